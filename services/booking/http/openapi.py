"""OpenAPI 3 description of the booking service's JSON API (served at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

from services.booking.domain import MAX_DURATION, MAX_PARTICIPANTS, MIN_DURATION, MIN_PARTICIPANTS
from shared.contracts.catalogue import content


def _text(max_length: int, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, **extra}


_ERRORS = {
    "description": "Errors, one per field",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}},
}
_TOKEN = {
    "name": "token",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "The workplace's status secret (from status_url); admins use the bearer token instead.",
}
_TOO_MANY = {**_ERRORS, "description": "A limit on requests is reached (Retry-After says when to try again)"}
_UNAVAILABLE = {**_ERRORS, "description": "The database is unreachable just now (Retry-After)"}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
# What can be done with a booking once it is created (OpenAPI links: clients and test tools follow them).
_ON_A_BOOKING = {
    "GetBooking": "getBooking",
    "CancelBooking": "cancelBooking",
    "RescheduleBooking": "rescheduleBooking",
    "EraseBooking": "eraseBooking",
}
_EMAIL_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["email"],
                "properties": {"email": {"type": "string", "format": "email"}},
            }
        }
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Inspirationsoplæg – booking API",
        "version": "1.0.0",
        "description": "Book a free inspiration talk on the psychological work environment. Times without an "
        'offset are Europe/Copenhagen local time. Errors: {"errors": [{"field", "message"}]}; messages are '
        "Danish unless Accept-Language starts with en.",
    },
    "components": {
        "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Errors": {
                "type": "object",
                "required": ["errors"],
                "properties": {
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["field", "message"],
                            "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                        },
                    }
                },
            },
            "BookingRequest": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "workplace",
                    "contact",
                    "theme",
                    "setting",
                    "participants",
                    "duration_minutes",
                    "preferred_starts",
                ],
                "properties": {
                    "workplace": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "address", "postcode", "city"],
                        "properties": {
                            "name": _text(200),
                            "address": _text(200),
                            "postcode": {"type": "string", "pattern": "^[0-9]{4}$"},
                            "city": _text(100),
                        },
                    },
                    "contact": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "email", "phone"],
                        "properties": {
                            "name": _text(200),
                            "email": {"type": "string", "format": "email"},
                            "phone": {"type": "string", "description": "Danish 8-digit number or E.164"},
                        },
                    },
                    "theme": {
                        "type": "string",
                        "enum": sorted(content().theme_ids),
                        "description": "Exactly one theme per talk.",
                    },
                    "setting": {"type": "string", "enum": ["staff_meeting", "work_environment_group"]},
                    "participants": {"type": "integer", "minimum": MIN_PARTICIPANTS, "maximum": MAX_PARTICIPANTS},
                    "duration_minutes": {"type": "integer", "minimum": MIN_DURATION, "maximum": MAX_DURATION},
                    "preferred_starts": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 3,
                        "uniqueItems": True,
                        "items": {"type": "string", "example": "2027-03-02T13:00"},
                        "description": "ISO 8601; without an offset Europe/Copenhagen. Weekdays, inside bookable "
                        "hours, at least the minimum notice ahead.",
                    },
                    "notes": {"type": "string", "maxLength": 2000},
                    "language": {"type": "string", "enum": ["da", "en"], "default": "da"},
                    "waitlist": {
                        "type": "string",
                        "enum": ["offer", "auto", "off"],
                        "default": "offer",
                        "description": "When a desired time frees later: an offer to accept, a direct placement, "
                        "or nothing.",
                    },
                    "waitlist_window": {"$ref": "#/components/schemas/WaitWindow"},
                },
            },
            "WaitWindow": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "required": ["from", "to"],
                "description": "Besides the desired times: any weekday start between two dates (inclusive, at "
                "most 92 days), before 12.00 (morning), from 12.00 (afternoon) or any time.",
                "properties": {
                    "from": {"type": "string", "format": "date"},
                    "to": {"type": "string", "format": "date"},
                    "part_of_day": {"type": "string", "enum": ["morning", "afternoon", "any"], "default": "any"},
                },
            },
            "Waitlist": {
                "type": "object",
                "additionalProperties": False,
                "required": ["waitlist"],
                "properties": {
                    "waitlist": {"type": "string", "enum": ["offer", "auto", "off"]},
                    "window": {"$ref": "#/components/schemas/WaitWindow"},
                },
            },
            "Created": {
                "type": "object",
                "required": ["id", "status", "status_url"],
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": ["received"]},
                    "status_url": {"type": "string", "format": "uri"},
                },
            },
            "Booking": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": ["received", "scheduled", "needs_alternative", "cancelled"]},
                    "slot": {"type": ["object", "null"]},
                    "alternatives": {"type": "array"},
                    "waitlist": {"type": "object", "description": "{mode, window, earlier}"},
                    "offers": {
                        "type": "array",
                        "description": "Freed times offered from the waitlist, to accept before expires_at",
                        "items": {
                            "type": "object",
                            "required": ["id", "start", "end", "expires_at"],
                            "properties": {
                                "id": {"type": "string"},
                                "start": {"$ref": "#/components/schemas/Moment"},
                                "end": {"$ref": "#/components/schemas/Moment"},
                                "expires_at": {"$ref": "#/components/schemas/Moment"},
                            },
                        },
                    },
                    "offer_taken": {
                        "type": "boolean",
                        "description": "the offer accepted last was taken just before: fresh alternatives given",
                    },
                },
            },
            "Moment": {
                "type": "object",
                "required": ["utc", "local", "text"],
                "properties": {
                    "utc": {"type": "string", "format": "date-time", "example": "2027-03-02T12:00:00Z"},
                    "local": {
                        "type": "string",
                        "format": "date-time",
                        "description": "Europe/Copenhagen time with its offset; its first 16 characters, passed "
                        "in preferred_starts, are the same start",
                        "example": "2027-03-02T13:00:00+01:00",
                    },
                    "text": {"type": "string", "example": "tirsdag den 2. marts 2027 kl. 13.00"},
                    "clock": {"type": "string", "example": "13.00"},
                    "day": {"type": "string", "description": "on a free start only: the local date in words"},
                },
            },
            "FreeTimes": {
                "type": "object",
                "required": ["from", "to", "slots"],
                "properties": {
                    "from": {"type": "string", "format": "date", "description": "the window, after leaving out "
                             "the days that cannot be booked (within the minimum notice, too far ahead)"},
                    "to": {"type": "string", "format": "date"},
                    "slots": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["start", "end"],
                            "properties": {
                                "start": {"$ref": "#/components/schemas/Moment"},
                                "end": {"$ref": "#/components/schemas/Moment"},
                            },
                        },
                    },
                },
            },
            "Reschedule": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "preferred_starts": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "string"}},
                    "start": {"type": "string", "description": "admin only, with consultant_id"},
                    "consultant_id": {"type": "string", "description": "admin only"},
                },
            },
        },
    },
    "paths": {
        "/api/v1/themes": {"get": {"summary": "The theme catalogue", "responses": {"200": {"description": "Themes"}}}},
        "/api/v1/availability": {
            "get": {
                "summary": "The start times still free for a theme and duration",
                "description": "Free starts on a 30-minute grid, from the scheduler's own search: working hours, "
                "absences, travel buffers, the daily maximum, themes, the consultants' own calendars, Danish "
                "public holidays and the organisation's closing days, the minimum notice. A slot's local time "
                "passed back in preferred_starts is placed at exactly that start while it is still free.",
                "parameters": [
                    {"name": "theme", "in": "query", "required": True,
                     "schema": {"type": "string", "enum": sorted(content().theme_ids)}},
                    {"name": "duration_minutes", "in": "query", "required": True,
                     "schema": {"type": "integer", "minimum": MIN_DURATION, "maximum": MAX_DURATION}},
                    {"name": "from", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
                    {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"},
                     "description": "at most AVAILABILITY_MAX_DAYS (default 42) days including from; a window "
                     "wholly outside the bookable days is refused"},
                ],
                "responses": {
                    "200": {
                        "description": "The free times, chronological",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FreeTimes"}}},
                    },
                    "422": _ERRORS,
                    "429": _TOO_MANY,
                    "503": {**_ERRORS, "description": "The scheduler cannot tell just now (Retry-After)"},
                },
            }
        },
        "/api/v1/bookings": {
            "post": {
                "summary": "Request an inspiration talk",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 200},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BookingRequest"}}},
                },
                "responses": {
                    "201": {
                        "description": "Stored; booking.requested will be published",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Created"}}},
                        "links": {
                            name: {"operationId": operation, "parameters": {"id": "$response.body#/id"}}
                            for name, operation in _ON_A_BOOKING.items()
                        },
                    },
                    "400": _ERRORS,
                    "409": _ERRORS,
                    "413": _ERRORS,
                    "422": _ERRORS,
                    "429": _TOO_MANY,
                    "503": _UNAVAILABLE,
                },
            },
            "get": {
                "summary": "List bookings (admin)",
                "security": [{"admin": []}],
                "parameters": [{"name": "status", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "Bookings"}, "401": _ERRORS, "422": _ERRORS},
            },
        },
        "/api/v1/bookings/{id}": {
            "get": {
                "operationId": "getBooking",
                "summary": "A booking and its status",
                "parameters": [_ID, _TOKEN],
                "security": [{}, {"admin": []}],
                "responses": {
                    "200": {
                        "description": "The booking",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Booking"}}},
                    },
                    "404": _ERRORS,
                },
            }
        },
        "/api/v1/bookings/{id}/cancel": {
            "post": {
                "operationId": "cancelBooking",
                "summary": "Cancel",
                "parameters": [_ID, _TOKEN],
                "security": [{}, {"admin": []}],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"reason": {"type": "string", "maxLength": 1000}},
                            }
                        }
                    },
                },
                "responses": {
                    "202": {"description": "Cancellation requested"},
                    "400": _ERRORS,
                    "404": _ERRORS,
                    "409": _ERRORS,
                    "422": _ERRORS,
                    "429": _TOO_MANY,
                },
            }
        },
        "/api/v1/bookings/{id}/offers/{offer_id}/accept": {
            "post": {
                "operationId": "acceptOffer",
                "summary": "Accept a time offered from the waitlist",
                "description": "The scheduler places the talk at the offered time if it is still free; if it "
                "was taken meanwhile, the booking shows offer_taken and fresh alternatives. Never a double booking.",
                "parameters": [
                    _ID,
                    {"name": "offer_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    _TOKEN,
                ],
                "security": [{}, {"admin": []}],
                "responses": {
                    "202": {"description": "Acceptance requested"},
                    "404": _ERRORS,
                    "409": _ERRORS,
                    "429": _TOO_MANY,
                },
            }
        },
        "/api/v1/bookings/{id}/waitlist": {
            "post": {
                "operationId": "changeWaitlist",
                "summary": "What happens when a wanted (for a scheduled talk: an earlier) time frees",
                "parameters": [_ID, _TOKEN],
                "security": [{}, {"admin": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Waitlist"}}},
                },
                "responses": {
                    "202": {"description": "Waitlist choice recorded"},
                    "400": _ERRORS,
                    "404": _ERRORS,
                    "409": _ERRORS,
                    "422": _ERRORS,
                    "429": _TOO_MANY,
                },
            }
        },
        "/api/v1/bookings/{id}/reschedule": {
            "post": {
                "operationId": "rescheduleBooking",
                "summary": "Ask for a new time",
                "parameters": [_ID, _TOKEN],
                "security": [{}, {"admin": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Reschedule"}}},
                },
                "responses": {
                    "202": {"description": "Move requested"},
                    "400": _ERRORS,
                    "404": _ERRORS,
                    "409": _ERRORS,
                    "422": _ERRORS,
                    "429": _TOO_MANY,
                },
            }
        },
        "/api/v1/bookings/{id}/erase": {
            "post": {
                "operationId": "eraseBooking",
                "summary": "Erase the booking's personal data in every service (admin)",
                "description": "Contact, workplace name and address, notes, phone and e-mail are erased in every "
                "service and collection, and parked messages about the booking removed; the talk stays on "
                "record, anonymised. Mail not yet sent is dropped; mail already sent is not recalled.",
                "parameters": [_ID],
                "security": [{"admin": []}],
                "responses": {"202": {"description": "Erasure under way"}, "401": _ERRORS, "404": _ERRORS},
            }
        },
        "/api/v1/erasure": {
            "post": {
                "summary": "Erase everything about one e-mail address (admin)",
                "security": [{"admin": []}],
                "requestBody": _EMAIL_BODY,
                "responses": {
                    "202": {"description": "The bookings being erased"},
                    "400": _ERRORS,
                    "401": _ERRORS,
                    "422": _ERRORS,
                },
            }
        },
        "/api/v1/personal-data": {
            "get": {
                "summary": "Everything stored about one e-mail address, in all three services (admin)",
                "security": [{"admin": []}],
                "parameters": [
                    {"name": "email", "in": "query", "required": True, "schema": {"type": "string", "format": "email"}}
                ],
                "responses": {
                    "200": {"description": "The export (JSON, as a download)"},
                    "401": _ERRORS,
                    "422": _ERRORS,
                    "503": {**_ERRORS, "description": "The scheduler or the notifier cannot answer (Retry-After)"},
                },
            }
        },
    },
}
