// Job Type form (Frappe desk). A paused type shows who paused it and since when; System Managers get a
// Pause or Resume button (dartwing.jobs.pause_job_type / resume_job_type, which check the role again and
// audit the change as a comment on this form's timeline). The pause fields are read-only here: only those
// endpoints write them.
frappe.ui.form.on("Job Type", {
	refresh(frm) {
		if (frm.is_new()) {
			return;
		}
		show_pause(frm);
		add_pause_button(frm);
	},
});

function show_pause(frm) {
	if (!frm.doc.paused) {
		return;
	}
	const since = frm.doc.paused_at ? frappe.datetime.str_to_user(frm.doc.paused_at) : "";
	const text = __("Paused by {0} since {1}: no job of this type starts; waiting jobs run after Resume", [
		frm.doc.paused_by || "",
		since,
	]);
	frm.dashboard.set_headline_alert(frappe.utils.escape_html(text), "orange");
}

function add_pause_button(frm) {
	if (!frappe.user.has_role("System Manager")) {
		return;
	}
	const paused = Boolean(frm.doc.paused);
	const label = paused ? __("Resume") : __("Pause");
	const question = paused
		? __("Resume {0}? Its waiting jobs start at once.", [frm.doc.name])
		: __("Pause {0}? Running jobs finish; no new job of this type starts until it is resumed.", [frm.doc.name]);
	frm.add_custom_button(label, () => {
		frappe.confirm(question, () =>
			frappe
				.call({
					method: paused ? "dartwing.jobs.resume_job_type" : "dartwing.jobs.pause_job_type",
					args: { job_type: frm.doc.name },
					freeze: true,
				})
				.then(() => {
					frappe.show_alert({ message: paused ? __("Resumed") : __("Paused"), indicator: "green" });
					frm.reload_doc();
				})
		);
	});
}
