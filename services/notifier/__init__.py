"""Notifier: turns booking events into e-mails, calendar invites and SMS, and sends them."""
