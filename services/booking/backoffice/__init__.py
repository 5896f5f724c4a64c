"""The organisation's back office (``/admin``): its rules and reads as plain code, beside the views in
``services.booking.http.backoffice``.

* ``accounts``: named admin accounts (argon2 hashes in MongoDB), managed from the command line
  (``python -m services.booking.admins``);
* ``queries`` and ``reads``: the questions the back office asks about bookings (search, filters,
  paging, needs attention, a calendar's period, statistics) and their MongoDB adapter;
* ``remote``: the scheduler and the notifier as the back office asks them, with the admin token;
* ``attention``, ``calendar``, ``statistics``, ``charts``, ``export``: the pages' content, pure.
"""
