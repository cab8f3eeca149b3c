"""The monthly HTML report and its inline SVG charts, rendered from the report marts."""
