// Job Schedule list view (Frappe desk): one indicator per schedule state. Mirrors
// frappe.listview_settings conventions of Frappe 15 (list_view.js).
const JOB_SCHEDULE_INDICATORS = {
	Active: "green",
	Paused: "orange",
	"Not submitted": "red",
	Disabled: "gray",
};

frappe.listview_settings["Job Schedule"] = {
	add_fields: ["schedule_status", "enabled", "next_run_at", "status_reason"],

	get_indicator(doc) {
		const status = doc.enabled ? doc.schedule_status || "Active" : "Disabled";
		return [__(status), JOB_SCHEDULE_INDICATORS[status] || "gray", `schedule_status,=,${status}`];
	},
};
