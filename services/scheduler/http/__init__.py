"""The scheduler's HTTP side: thin views that translate HTTP to the use cases in
:mod:`services.scheduler.handlers` and back.

* :mod:`.api`: the consultants admin API.
* :mod:`.feed`: each consultant's subscribable calendar feed (``calendar.ics``).
* :mod:`.availability`: the free starts for a theme and duration (for the booking service).
"""
