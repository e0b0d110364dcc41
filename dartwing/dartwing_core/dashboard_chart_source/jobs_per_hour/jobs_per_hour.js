// Dashboard Chart Source "Jobs Per Hour" (Frappe desk): where the chart widget gets its data and filters.
frappe.provide("frappe.dashboards.chart_sources");

frappe.dashboards.chart_sources["Jobs Per Hour"] = {
	method: "dartwing.dartwing_core.dashboard_chart_source.jobs_per_hour.jobs_per_hour.get",
	filters: [
		{
			fieldname: "hours",
			label: __("Hours"),
			fieldtype: "Int",
			default: 24,
		},
	],
};
