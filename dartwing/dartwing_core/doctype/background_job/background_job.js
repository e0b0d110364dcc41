// Background Job form (Frappe desk). Mirrors frappe.ui.form.on conventions of Frappe 15 (form/form.js).
//
// - A live progress bar follows job_progress for this document: the form joins the permission-checked
//   room doc:Background Job/<name> (frappe.realtime.doc_subscribe) and filters events by job id.
// - Cancel and Retry appear only when the status allows them and the user may change the document;
//   they call dartwing.jobs.cancel_job / retry_job, which check permissions again.
// - Execution history (dartwing.jobs.get_job_history), parameters, result, error and traceback are shown
//   read-only in HTML fields when the doctype has them (history_html, details_html), otherwise in form
//   dashboard sections.
const CANCELABLE_STATUSES = ["Pending", "Queued", "Running", "Failed", "Timed Out"];
const RETRYABLE_STATUSES = ["Failed", "Timed Out", "Canceled", "Dead Letter"];
const TERMINAL_STATUSES = ["Completed", "Canceled", "Dead Letter"];

frappe.ui.form.on("Background Job", {
	setup(frm) {
		frm._dartwing_progress = (data) => {
			if (data.job === frm.doc.name) {
				show_live_progress(frm, data.percent, data.message);
			}
		};
		frm._dartwing_status = (data) => {
			if (data.job === frm.doc.name && !frm.is_dirty()) {
				frm.reload_doc();
			}
		};
		frappe.realtime.on("job_progress", frm._dartwing_progress);
		frappe.realtime.on("job_status_changed", frm._dartwing_status);
	},

	refresh(frm) {
		frm.disable_save();
		if (frm.is_new()) {
			return;
		}
		frappe.realtime.doc_subscribe(frm.doctype, frm.doc.name);
		add_action_buttons(frm);
		show_live_progress(frm, frm.doc.progress, frm.doc.progress_message);
		render_details(frm);
		render_history(frm);
	},

	before_unload(frm) {
		frappe.realtime.off("job_progress", frm._dartwing_progress);
		frappe.realtime.off("job_status_changed", frm._dartwing_status);
		if (frm.doc && !frm.is_new()) {
			frappe.realtime.doc_unsubscribe(frm.doctype, frm.doc.name);
		}
	},
});

function add_action_buttons(frm) {
	const may_change = frm.perm[0] && frm.perm[0].write;
	const status = frm.doc.status;
	if (CANCELABLE_STATUSES.includes(status) && !frm.doc.cancel_requested && may_change !== 0) {
		frm.add_custom_button(__("Cancel Job"), () => {
			frappe.confirm(__("Cancel job {0}?", [frm.doc.name]), () =>
				call_and_reload(frm, "dartwing.jobs.cancel_job", __("Cancel requested"))
			);
		});
	}
	if (RETRYABLE_STATUSES.includes(status) && may_change !== 0) {
		frm.add_custom_button(__("Retry Job"), () =>
			call_and_reload(frm, "dartwing.jobs.retry_job", __("Job queued for retry"))
		);
	}
}

function call_and_reload(frm, method, message) {
	return frappe
		.call({ method, args: { job_id: frm.doc.name }, freeze: true })
		.then(() => {
			frappe.show_alert({ message, indicator: "green" });
			frm.reload_doc();
		});
}

function show_live_progress(frm, percent, message) {
	if (TERMINAL_STATUSES.includes(frm.doc.status) && frm.doc.status !== "Completed") {
		if (frm.dashboard.hide_progress) {
			frm.dashboard.hide_progress(__("Progress"));
		}
		return;
	}
	const value = Math.max(0, Math.min(100, Number(percent) || 0));
	frm.dashboard.show_progress(__("Progress"), value, message || `${Math.round(value)}%`);
}

function html_target(frm, fieldname, title) {
	const field = frm.fields_dict[fieldname];
	if (field && field.$wrapper) {
		return field.$wrapper;
	}
	const key = `_dartwing_${fieldname}`;
	if (!frm[key] || !document.body.contains(frm[key][0])) {
		frm[key] = frm.dashboard.add_section("", title);
	}
	frm.dashboard.show();
	return frm[key];
}

function pre(value) {
	const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
	return `<pre class="small" style="white-space: pre-wrap; max-height: 320px; overflow: auto;">${frappe.utils.escape_html(text || "")}</pre>`;
}

function render_details(frm) {
	const doc = frm.doc;
	const parts = [`<h6>${__("Parameters")}</h6>${pre(doc.parameters || "{}")}`];
	if (doc.result) {
		parts.push(`<h6>${__("Result")}</h6>${pre(doc.result)}`);
	}
	if (doc.error_type) {
		parts.push(
			`<h6 class="text-danger">${frappe.utils.escape_html(doc.error_type)}</h6>`,
			`<p>${frappe.utils.escape_html(doc.error_message || "")}</p>`
		);
		if (doc.error_traceback) {
			parts.push(`<details><summary>${__("Traceback")}</summary>${pre(doc.error_traceback)}</details>`);
		}
	}
	html_target(frm, "details_html", __("Details")).html(parts.join(""));
}

function render_history(frm) {
	frappe
		.call({ method: "dartwing.jobs.get_job_history", args: { job_id: frm.doc.name }, type: "GET" })
		.then((r) => {
			const rows = (r.message.history || []).map((entry) => {
				const cells = [
					frappe.datetime.str_to_user(entry.timestamp),
					`${entry.from_status || "—"} → ${entry.to_status}`,
					entry.actor,
					entry.attempt,
					entry.worker || "",
					entry.message || "",
				];
				return `<tr>${cells.map((c) => `<td>${frappe.utils.escape_html(String(c))}</td>`).join("")}</tr>`;
			});
			const head = [__("Time"), __("Transition"), __("Actor"), __("Attempt"), __("Worker"), __("Message")]
				.map((h) => `<th>${h}</th>`)
				.join("");
			html_target(frm, "history_html", __("Execution History")).html(
				`<table class="table table-bordered table-sm"><thead><tr>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`
			);
		});
}
