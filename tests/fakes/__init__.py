"""Local stand-ins for vendor HTTP APIs, following each vendor's documented request and response shapes."""
