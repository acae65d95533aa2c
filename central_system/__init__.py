"""The central system (CSMS): OCPP over websockets, services, persistence and the REST API."""
