// Background Job Batch list view (Frappe desk): one indicator colour per status and the progress column.
const BACKGROUND_JOB_BATCH_INDICATORS = {
	Running: "blue",
	Completed: "green",
	"Completed with failures": "orange",
	Canceled: "gray",
};

frappe.listview_settings["Background Job Batch"] = {
	add_fields: ["status", "progress", "total", "cancel_requested"],
	has_indicator_for_draft: true,

	get_indicator(doc) {
		const color = BACKGROUND_JOB_BATCH_INDICATORS[doc.status] || "gray";
		let label = __(doc.status);
		if (doc.status === "Running") {
			label = doc.cancel_requested
				? __("Canceling")
				: __("Running {0}%", [Math.round(doc.progress || 0)]);
		}
		return [label, color, `status,=,${doc.status}`];
	},

	formatters: {
		progress(value) {
			return `${Math.round(value || 0)}%`;
		},
	},

	onload(listview) {
		frappe.realtime.on("batch_completed", () => listview.refresh());
	},
};
