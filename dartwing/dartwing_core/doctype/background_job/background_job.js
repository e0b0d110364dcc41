// Background Job form (Frappe desk). Written against Frappe 15's form.js: the events a form triggers are
// setup (once per form object), before_load / onload (first load of a document), refresh (every render)
// and on_hide (its page is hidden: the user went elsewhere).
//
// - Rules from the server: the status sets are frappe.boot.dartwing.job_statuses (transitions.py, sent by
//   the extend_bootinfo hook); Cancel and Retry appear when the status allows them and the controller's
//   onload said the user may manage this job (frm.doc.__onload.can_manage, permissions.may_manage). The
//   API (dartwing.jobs.cancel_job / retry_job) checks again. A dead-lettered job also gets "Edit and
//   Retry" for System Managers (__onload.can_repair): dartwing.dead_letter.edit_and_retry, the dialog the
//   list view shares (public/js/dartwing_desk.bundle.js, loaded on every desk page by app_include_js).
// - Live: the form is in the permission-checked room doc:Background Job/<name> while it shows that job
//   (joined on refresh, left on on_hide or when another job is loaded). job_progress moves the bar and
//   the stored progress in frm.doc, so the status pill ("Running n%") moves with it; job_status_changed
//   sets the status and reloads the document, once per event (an event arrives once per room).
// - A job that has not started says why (the headline: waiting_for from the controller's onload).
// - Details (parameters, result, error, traceback) and the execution history (dartwing.jobs.get_job_history,
//   times in the user's time zone) are read-only dashboard sections.
const SEEN_EVENTS_MAX = 200; // status events remembered to apply each once
const RELOAD_DEBOUNCE_MS = 300; // a burst of status changes (Queued → Running) reloads the form once

frappe.ui.form.on("Background Job", {
	setup(frm) {
		frm._dartwing_seen = new Set();
		frm._dartwing_reload = frappe.utils.debounce(() => {
			if (showing(frm) && !frm.is_dirty()) {
				frm.reload_doc();
			}
		}, RELOAD_DEBOUNCE_MS);
		frappe.realtime.on("job_progress", (data) => on_progress(frm, data));
		frappe.realtime.on("job_status_changed", (data) => on_status_changed(frm, data));
	},

	refresh(frm) {
		frm.disable_save();
		if (frm.is_new()) {
			return;
		}
		join_job_room(frm);
		add_action_buttons(frm);
		show_waiting_for(frm);
		show_live_progress(frm);
		render_details(frm);
		render_history(frm);
	},

	on_hide(frm) {
		leave_job_room(frm);
	},
});

function job_statuses() {
	return (frappe.boot.dartwing || {}).job_statuses || { active: [], cancelable: [], retryable: [] };
}

// The form shows this job now (events of a job the user navigated away from change nothing).
function showing(frm, job) {
	const route = frappe.get_route() || [];
	const name = frm.doc && frm.doc.name;
	return Boolean(name) && (job === undefined || job === name) && route[0] === "Form" && route[1] === frm.doctype && route[2] === name;
}

// ---------------------------------------------------------------- the job's room

function join_job_room(frm) {
	const name = frm.doc.name;
	if (frm._dartwing_room && frm._dartwing_room !== name) {
		leave_job_room(frm);
	}
	frm._dartwing_room = name;
	subscribe_when_allowed(frm, name);
}

function subscribe_when_allowed(frm, name) {
	if (frm._dartwing_room !== name) {
		return; // another job is shown now
	}
	if (frappe.flags.doc_subscribe) {
		// Frappe's doc_subscribe lets one subscription through per second and drops the others
		setTimeout(() => subscribe_when_allowed(frm, name), 1100);
		return;
	}
	frappe.realtime.doc_subscribe(frm.doctype, name); // a no-op while the room is joined
}

function leave_job_room(frm) {
	if (frm._dartwing_room) {
		frappe.realtime.doc_unsubscribe(frm.doctype, frm._dartwing_room);
		frm._dartwing_room = null;
	}
}

// ---------------------------------------------------------------- live events

function on_progress(frm, data) {
	if (!showing(frm, data.job) || !job_statuses().active.includes(frm.doc.status)) {
		return;
	}
	// the stored values change in place (not through set_value): the form does not become dirty
	frm.doc.progress = Math.max(0, Math.min(100, Number(data.percent) || 0));
	frm.doc.progress_message = data.message || "";
	frm.refresh_field("progress");
	frm.refresh_field("progress_message");
	show_live_progress(frm);
	frm.toolbar.set_indicator(); // frappe.get_indicator → the list settings' "Running n%"
}

function on_status_changed(frm, data) {
	if (!showing(frm, data.job) || !first_delivery(frm, data)) {
		return;
	}
	frm.doc.status = data.to;
	frm.toolbar.set_indicator();
	frm._dartwing_reload();
}

function first_delivery(frm, event) {
	const key = [event.job, event.from, event.to, event.time].join("|");
	if (frm._dartwing_seen.has(key)) {
		return false;
	}
	frm._dartwing_seen.add(key);
	if (frm._dartwing_seen.size > SEEN_EVENTS_MAX) {
		frm._dartwing_seen.delete(frm._dartwing_seen.values().next().value);
	}
	return true;
}

// ---------------------------------------------------------------- buttons

function add_action_buttons(frm) {
	const onload = frm.doc.__onload || {};
	if (onload.can_repair && frm.doc.status === "Dead Letter") {
		frm.add_custom_button(__("Edit and Retry"), () => edit_and_retry(frm));
	}
	if (!onload.can_manage) {
		return;
	}
	const statuses = job_statuses();
	const status = frm.doc.status;
	if (statuses.cancelable.includes(status) && !frm.doc.cancel_requested) {
		frm.add_custom_button(__("Cancel Job"), () => {
			frappe.confirm(__("Cancel job {0}?", [frm.doc.name]), () =>
				call_and_reload(frm, "dartwing.jobs.cancel_job", __("Cancel requested"))
			);
		});
	}
	if (statuses.retryable.includes(status)) {
		frm.add_custom_button(__("Retry Job"), () =>
			call_and_reload(frm, "dartwing.jobs.retry_job", __("Job queued for retry"))
		);
	}
}

function edit_and_retry(frm) {
	// the dialog is shared with the list view: dartwing_desk.bundle.js
	dartwing.dead_letter
		.edit_and_retry({
			job_ids: [frm.doc.name],
			parameters: frm.doc.parameters,
			title: __("Edit and Retry {0}", [frm.doc.name]),
			description: __("A JSON object. The job goes back to Pending with these parameters and a fresh retry budget; the history records the change."),
			confirm: __("Retry job {0} with the edited parameters?", [frm.doc.name]),
			done: __("Job queued for retry with edited parameters"),
		})
		.then(() => frm.reload_doc());
}

function call_and_reload(frm, method, message) {
	return frappe.call({ method, args: { job_id: frm.doc.name }, freeze: true }).then(() => {
		frappe.show_alert({ message, indicator: "green" });
		frm.reload_doc();
	});
}

// ---------------------------------------------------------------- dashboard sections

// Why the job has not started yet: gates.waiting_for, sent by the controller's onload (the same answer
// as dartwing.jobs.get_job_status).
function show_waiting_for(frm) {
	const waiting = (frm.doc.__onload || {}).waiting_for;
	if (waiting) {
		frm.dashboard.set_headline_alert(frappe.utils.escape_html(__("Waiting: {0}", [waiting.message])), "orange");
	}
}

function show_live_progress(frm) {
	const status = frm.doc.status;
	if (!job_statuses().active.includes(status) && status !== "Completed") {
		return; // the form's refresh (dashboard.reset) has removed any bar already
	}
	const value = Math.max(0, Math.min(100, Number(frm.doc.progress) || 0));
	const message = frm.doc.progress_message || `${Math.round(value)}%`;
	// the first call creates the bar (its message would go in as HTML); the second sets it as text
	frm.dashboard.show_progress(__("Progress"), value, "");
	frm.dashboard.show_progress(__("Progress"), value, message);
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
	// refresh() runs dashboard.reset(), which removes the sections of the previous render
	frm.dashboard.add_section(parts.join(""), __("Details"));
	frm.dashboard.show();
}

function render_history(frm) {
	const section = frm.dashboard.add_section(`<p class="text-muted small">${__("Loading…")}</p>`, __("Execution History"));
	frm.dashboard.show();
	frappe
		.call({ method: "dartwing.jobs.get_job_history", args: { job_id: frm.doc.name }, type: "GET" })
		.then((r) => {
			const rows = (r.message.history || []).map((entry) => {
				const cells = [
					// "YYYY-MM-DD HH:MM:SS" (with a space) is what str_to_user shows with its time
					frappe.datetime.str_to_user((entry.timestamp || "").replace("T", " ")),
					`${entry.from_status ? __(entry.from_status) : "—"} → ${__(entry.to_status)}`,
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
			section.html(
				`<table class="table table-bordered table-sm"><thead><tr>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`
			);
		});
}
