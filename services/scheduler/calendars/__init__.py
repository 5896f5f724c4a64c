"""Consultants' own calendars: iCalendar feeds and CalDAV collections whose busy times
block placement.

* :mod:`.sources`: a consultant's ``external_calendars`` entry, validated; its stable id and kind.
* :mod:`.credentials`: CalDAV passwords sealed with ``CALENDAR_KEY`` (Fernet).
* :mod:`.expand`: iCalendar data to busy intervals for a window (pure).
* :mod:`.fetching`, :mod:`.feeds`, :mod:`.caldav_source`: getting the data, conditionally.
* :mod:`.status`: fresh, failing or stale, and what a search sees of it (pure).
* :mod:`.store`: busy times per consultant, source and month, and the fetch state per source.
* :mod:`.refresher`: the periodic refresh, one lease per source across replicas.
* :mod:`.service`: what the rest of the scheduler uses (admin API, handlers, app factory).
"""
