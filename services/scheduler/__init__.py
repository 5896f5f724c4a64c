"""The scheduler service: places, moves and cancels talks in the consultants' calendars.

* :mod:`.domain`: the slot search (pure): who can give a talk when, or the closest alternatives.
* :mod:`.placement`: the scheduler's view of a booking (pure): each outcome and its event.
* :mod:`.days`: a consultant's day of talks, the unit a reservation writes (pure).
* :mod:`.handlers`: the use cases: one handler per event (``HANDLERS``), saving and removing consultants.
* :mod:`.store`: the Protocols the handlers use, and their MongoDB adapters.
* :mod:`.consultants`: a consultant as the admin gives it (API body or YAML file), validated.
* :mod:`.calendars`: the consultants' own calendars (feeds, CalDAV), whose busy times block placement.
* :mod:`.http`: the consultants admin API and each consultant's calendar feed.
* :mod:`.app`: the app factory; :mod:`.context`: its typed application keys.
"""
