"""Hooks of the ``frappe`` app itself (the small subset benchless needs); mirrors ``frappe/hooks.py``."""

app_name = "frappe"
app_title = "Frappe Framework"
app_publisher = "Frappe Technologies"
app_description = "Full stack web framework (benchless stand-in)"
app_license = "MIT"

doc_events = {}

permission_query_conditions = {
	"Notification Log": "frappe.desk.doctype.notification_log.notification_log.get_permission_query_conditions",
}
scheduler_events = {}
