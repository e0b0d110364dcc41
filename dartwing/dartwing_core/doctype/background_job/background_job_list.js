// Background Job list view (Frappe desk): one indicator colour per status, and the filters an operator
// reaches for first. Mirrors frappe.listview_settings conventions of Frappe 15 (list_view.js).
const BACKGROUND_JOB_INDICATORS = {
	Pending: "yellow",
	Queued: "cyan",
	Running: "blue",
	Completed: "green",
	Failed: "orange",
	"Timed Out": "orange",
	Canceled: "gray",
	"Dead Letter": "red",
};

frappe.listview_settings["Background Job"] = {
	add_fields: ["status", "progress", "job_type", "organization", "retry_count", "cancel_requested"],
	hide_name_column: false,
	has_indicator_for_draft: true,

	get_indicator(doc) {
		const color = BACKGROUND_JOB_INDICATORS[doc.status] || "gray";
		let label = __(doc.status);
		if (doc.status === "Running" && doc.cancel_requested) {
			label = __("Canceling");
		} else if (doc.status === "Running") {
			label = __("Running {0}%", [Math.round(doc.progress || 0)]);
		}
		return [label, color, `status,=,${doc.status}`];
	},

	formatters: {
		progress(value) {
			return `${Math.round(value || 0)}%`;
		},
	},

	onload(listview) {
		listview.page.add_inner_button(__("Dead Letter"), () => {
			frappe.set_route("List", "Background Job", { status: "Dead Letter" });
		});
		listview.page.add_inner_button(__("Job Monitor"), () => {
			window.open("/job-monitor", "_blank");
		});
		// the list follows status changes without a manual refresh
		frappe.realtime.on("job_status_changed", () => listview.refresh());
	},
};
