// Job Schedule form (Frappe desk). Mirrors frappe.ui.form.on conventions of Frappe 15 (form/form.js).
//
// The server computes what the form shows (JobSchedule.onload): the next five occurrences in the
// schedule's time zone and the last jobs it made. Enable / Disable saves the document, so the
// permission hooks and the controller's checks apply as for any edit.
frappe.ui.form.on("Job Schedule", {
	refresh(frm) {
		if (frm.is_new()) {
			return;
		}
		const label = frm.doc.enabled ? __("Disable") : __("Enable");
		frm.add_custom_button(label, () => {
			frm.set_value("enabled", frm.doc.enabled ? 0 : 1);
			frm.save();
		});
		if (frm.doc.status_reason) {
			const color = frm.doc.schedule_status === "Active" ? "blue" : "orange";
			frm.dashboard.set_headline(frappe.utils.escape_html(frm.doc.status_reason), color);
		}
		render_upcoming(frm);
	},
});

function render_upcoming(frm) {
	const onload = frm.doc.__onload || {};
	const upcoming = (onload.upcoming || []).map(
		(when) => `<li>${frappe.utils.escape_html(frappe.datetime.str_to_user(when))}</li>`
	);
	const jobs = (onload.recent_jobs || []).map(
		(job) =>
			`<li><a href="/app/background-job/${encodeURIComponent(job.job_id)}">${frappe.utils.escape_html(
				job.job_id
			)}</a> ${frappe.utils.escape_html(__(job.status))} · ${frappe.utils.escape_html(
				frappe.datetime.str_to_user(job.created_at)
			)}</li>`
	);
	const next = frm.doc.enabled
		? `<ul>${upcoming.join("") || `<li>${__("None")}</li>`}</ul>`
		: `<p>${__("Disabled: no occurrences")}</p>`;
	frm.dashboard.add_section(
		`<div class="row"><div class="col-sm-6"><h6>${__("Next occurrences")}</h6>${next}</div>` +
			`<div class="col-sm-6"><h6>${__("Last jobs")}</h6><ul>${
				jobs.join("") || `<li>${__("None yet")}</li>`
			}</ul></div></div>`,
		__("Schedule")
	);
}
