"""End users who sign in at the login page."""
