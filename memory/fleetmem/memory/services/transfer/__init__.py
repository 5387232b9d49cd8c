"""Bulk import and export of memories (`fleetmem import|export`, /v1/import, /v1/export)."""
