"""Static files of the clinician web page (served by dxkit.service.routes_web)."""
