"""Finance's room: reconciliation of the ERP against each destination, and acting on it."""
