"""Background Job Engine: durable, fair, observable jobs for Frappe sites."""
