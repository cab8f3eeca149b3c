"""Fetching call records and licences from Microsoft Graph into the landing folder."""
