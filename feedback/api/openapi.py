"""The OpenAPI 3.1 description of every /api/v1 endpoint, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from feedback import __version__

STATUSES = ["new", "in_progress", "fixed", "rejected", "spam"]
KINDS = ["typo", "comment"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
TIME = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                },
            }
        },
    },
    "Quote": {
        "type": "object",
        "properties": {
            "exact": {"type": "string", "maxLength": 300},
            "prefix": {"type": "string", "maxLength": 200},
            "suffix": {"type": "string", "maxLength": 200},
        },
    },
    "NewReport": {
        "type": "object",
        "description": "What the widget sends. Unknown fields are ignored.",
        "required": ["site", "kind", "url"],
        "properties": {
            "site": {"type": "string", "description": "The site key."},
            "kind": {"type": "string", "enum": KINDS},
            "url": {"type": "string", "maxLength": 2048},
            "title": {"type": "string", "maxLength": 500},
            "lang": {"type": "string"},
            "quote": _ref("Quote"),
            "suggestion": {"type": "string", "maxLength": 2000},
            "comment": {"type": "string", "maxLength": 2000},
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["id", "duplicate"],
        "properties": {"id": {"type": "integer"}, "duplicate": {"type": "boolean"}},
    },
    "SiteRef": {
        "type": "object",
        "required": ["key", "name"],
        "properties": {"key": {"type": "string"}, "name": {"type": "string"}},
    },
    "Site": {
        "type": "object",
        "required": ["key", "name", "origins", "edit_url_template"],
        "properties": {
            "key": {"type": "string"},
            "name": {"type": "string"},
            "origins": {"type": "array", "items": {"type": "string"}},
            "edit_url_template": {"type": ["string", "null"]},
        },
    },
    "Report": {
        "type": "object",
        "required": [
            "id", "site", "status", "kind", "url", "title", "quote", "suggestion", "comment",
            "submission_count", "first_seen", "last_seen", "assignee", "note", "links",
        ],
        "properties": {
            "id": {"type": "integer"},
            "site": _ref("SiteRef"),
            "status": {"type": "string", "enum": STATUSES},
            "kind": {"type": "string", "enum": KINDS},
            "url": {"type": "string"},
            "title": {"type": "string"},
            "quote": _ref("Quote"),
            "suggestion": {"type": ["string", "null"], "description": "The latest one."},
            "comment": {"type": ["string", "null"], "description": "The latest one."},
            "submission_count": {"type": "integer", "minimum": 1},
            "first_seen": TIME,
            "last_seen": TIME,
            "assignee": {"type": ["string", "null"], "description": "The editor's email."},
            "note": {"type": "string"},
            "links": {
                "type": "object",
                "required": ["dashboard", "page", "edit"],
                "properties": {
                    "dashboard": {"type": "string"},
                    "page": {"type": ["string", "null"], "description": "At the quote."},
                    "edit": {"type": ["string", "null"], "description": "In the CMS."},
                },
            },
        },
    },
    "ReportDetail": {
        "allOf": [
            _ref("Report"),
            {
                "type": "object",
                "required": ["submissions", "events"],
                "properties": {
                    "submissions": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "suggestion", "comment", "created_at"],
                            "properties": {
                                "id": {"type": "integer"},
                                "suggestion": {"type": "string"},
                                "comment": {"type": "string"},
                                "created_at": TIME,
                            },
                        },
                    },
                    "events": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["from_status", "to_status", "created_at", "by", "note"],
                            "properties": {
                                "from_status": {"type": ["string", "null"]},
                                "to_status": {"type": "string"},
                                "created_at": TIME,
                                "by": {"type": ["string", "null"]},
                                "note": {"type": ["string", "null"]},
                            },
                        },
                    },
                },
            },
        ]
    },
    "ReportChange": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            "status": {"type": "string", "enum": STATUSES},
            "reason": {
                "type": "string",
                "maxLength": 500,
                "description": "Why, recorded with a status change.",
            },
            "assignee": {
                "type": ["string", "null"],
                "description": "An editor's email, or null to unassign.",
            },
            "note": {"type": "string", "maxLength": 5000},
        },
    },
    "ReportPage": {
        "type": "object",
        "required": ["reports", "next"],
        "properties": {
            "reports": {"type": "array", "items": _ref("Report")},
            "next": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last one.",
            },
        },
    },
}  # fmt: skip

AUTH_ERRORS = {
    "401": _error("No token, or one that is not valid (revoked, mistyped)."),
    "403": _error("The token does not cover this site, or is read-only."),
}


def _query(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description, **extra}


REPORT_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}


def openapi_document(server_url: str = "") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "feedback",
            "version": __version__,
            "description": "Reader reports in; reports out to scripts and CMSs. Every "
            "endpoint but intake needs `Authorization: Bearer TOKEN`.",
        },
        "paths": {
            "/api/v1/reports": {
                "post": {
                    "operationId": "sendReport",
                    "summary": "A reader's report (the widget's intake endpoint)",
                    "security": [],
                    "parameters": [
                        {
                            "name": "Origin",
                            "in": "header",
                            "schema": {"type": "string"},
                            "description": "One of the site's registered origins.",
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NewReport")}},
                    },
                    "responses": {
                        "201": _json(_ref("Accepted"), "Stored (merged into an open report "
                                     "when `duplicate`)."),
                        "400": _error("Not JSON, or a field of the wrong type."),
                        "403": _error("The origin is not one of the site's."),
                        "404": _error("No site with this key."),
                        "413": _error("The body is too large."),
                        "415": _error("Not application/json."),
                        "422": _error("A field's value is not acceptable."),
                        "429": _error("Too many reports; see Retry-After."),
                        "503": _error("The report could not be stored; try again."),
                    },
                },
                "get": {
                    "operationId": "listReports",
                    "summary": "Reports the token may see, newest first, a page at a time",
                    "parameters": [
                        _query("site", {"type": "string"}, "A site key."),
                        _query(
                            "status",
                            {"type": "array", "items": {"type": "string",
                                                        "enum": [*STATUSES, "all"]}},
                            "Repeat for several; default new and in_progress.",
                            style="form",
                            explode=True,
                        ),
                        _query("kind", {"type": "string", "enum": KINDS}, "typo or comment."),
                        _query("url", {"type": "string"}, "Part of the page address."),
                        _query("q", {"type": "string"}, "Words from the quote or comments."),
                        _query("sort", {"type": "string", "enum": ["newest", "oldest", "most"]},
                               "Order."),
                        _query("limit", {"type": "integer", "minimum": 1, "maximum": 200},
                               "Page size (default 50)."),
                        _query("cursor", {"type": "string"}, "The previous page's `next`."),
                    ],
                    "responses": {
                        "200": _json(_ref("ReportPage"), "A page of reports."),
                        "400": _error("A parameter is not valid."),
                        **AUTH_ERRORS,
                    },
                },
            },
            "/api/v1/reports/{id}": {
                "parameters": [REPORT_ID],
                "get": {
                    "operationId": "getReport",
                    "summary": "One report with its submissions and history",
                    "responses": {
                        "200": _json(_ref("ReportDetail"), "The report."),
                        **AUTH_ERRORS,
                        "404": _error("No such report among the token's sites."),
                    },
                },
                "patch": {
                    "operationId": "changeReport",
                    "summary": "Change status (with a reason), assignee or note",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("ReportChange")}},
                    },
                    "responses": {
                        "200": _json(_ref("ReportDetail"), "The report after the change."),
                        "400": _error("The body is not a valid change."),
                        **AUTH_ERRORS,
                        "404": _error("No such report among the token's sites."),
                        "409": _error("The change clashes with another open report."),
                        "415": _error("Not application/json."),
                        "422": _error("A field's value is not acceptable."),
                    },
                },
            },
            "/api/v1/widget-config": {
                "get": {
                    "operationId": "widgetConfig",
                    "summary": "What the widget needs to know about its site (no token)",
                    "security": [],
                    "parameters": [
                        _query("site", {"type": "string"}, "The site key.", required=True),
                        _query("url", {"type": "string"}, "The page the widget is on."),
                        {"name": "Origin", "in": "header", "schema": {"type": "string"},
                         "description": "The page's origin."},
                    ],
                    "responses": {
                        "200": _json(
                            {"type": "object", "required": ["notify_reader"],
                             "properties": {"notify_reader": {"type": "boolean"}}},
                            "The site's widget settings.",
                        ),
                        "403": _error("The page is not on one of the site's origins."),
                        "404": _error("No site with this key."),
                        "422": _error("The page address is not acceptable."),
                    },
                },
            },
            "/api/v1/sites": {
                "get": {
                    "operationId": "listSites",
                    "summary": "The sites the token covers",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["sites"],
                                "properties": {"sites": {"type": "array", "items": _ref("Site")}},
                            },
                            "The sites.",
                        ),
                        **AUTH_ERRORS,
                    },
                },
            },
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"token": []}],
    }  # fmt: skip
    if server_url:
        doc["servers"] = [{"url": server_url.rstrip("/")}]
    return doc
