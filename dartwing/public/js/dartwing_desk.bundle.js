// Desk code shared by the Background Job form and list: every desk page loads this bundle (hooks.py
// app_include_js; `bench build` makes it, as scripts/build-assets.sh does on benchless).
//
// Contract:
// - dartwing.dead_letter.edit_and_retry({ job_ids, parameters, title, description, confirm, done })
//   opens the "Edit and Retry" dialog: `parameters` (the stored JSON text of the first job) shown
//   pretty-printed in a JSON code field; the edit must parse as a JSON object (checked here only to
//   answer at once: the server validates it as a submission's and refuses with a 4xx and nothing
//   written); a confirmation; then dartwing.jobs.retry_dead_letter_jobs(job_ids, parameters), which
//   checks the caller's right again and records old and new parameters in each job's history.
//   Returns a Promise that resolves with the server's reply once the jobs were retried (the caller then
//   reloads); it never resolves when the person cancels, and a refusal is Frappe's own error dialog.
// - dartwing.dead_letter.pretty_json(text): stored JSON text, indented (shown as stored when not JSON).

function pretty_json(text) {
	try {
		return JSON.stringify(JSON.parse(text || "{}"), null, 2);
	} catch {
		return text || "{}"; // not JSON (a stored job's parameters always are): shown as stored
	}
}

// The edited text as an object, or the reason it cannot be one.
function parse_parameters(text) {
	let parameters;
	try {
		parameters = JSON.parse(text || "{}");
	} catch (e) {
		return { error: __("Parameters are not valid JSON: {0}", [e.message]) };
	}
	if (!parameters || typeof parameters !== "object" || Array.isArray(parameters)) {
		return { error: __("Parameters must be a JSON object.") };
	}
	return { parameters };
}

function edit_and_retry({ job_ids, parameters, title, description, confirm, done }) {
	return new Promise((resolve) => {
		const dialog = new frappe.ui.Dialog({
			title,
			fields: [
				{
					fieldname: "parameters",
					fieldtype: "Code",
					options: "JSON",
					label: __("Parameters"),
					description,
					default: pretty_json(parameters),
				},
			],
			primary_action_label: __("Retry with these parameters"),
			primary_action(values) {
				const parsed = parse_parameters(values.parameters);
				if (parsed.error) {
					frappe.msgprint(parsed.error);
					return;
				}
				frappe.confirm(confirm, () => {
					frappe
						.call({
							method: "dartwing.jobs.retry_dead_letter_jobs",
							args: { job_ids, parameters: parsed.parameters },
							freeze: true,
						})
						.then((reply) => {
							dialog.hide();
							frappe.show_alert({ message: done, indicator: "green" });
							resolve(reply);
						});
				});
			},
		});
		dialog.show();
	});
}

frappe.provide("dartwing.dead_letter");
Object.assign(window.dartwing.dead_letter, { edit_and_retry, pretty_json });
