"""Browser tests: the real booking service driven through Debian's Chromium with Playwright."""
