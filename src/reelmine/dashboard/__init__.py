"""Web dashboard served by the API app: login, one page per capability, charts drawn in the
browser from the API's JSON chart endpoints with a locally served ECharts (no CDN)."""
