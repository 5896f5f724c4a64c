"""The booking service: the Danish web form, the JSON API and the workplace's status page."""
