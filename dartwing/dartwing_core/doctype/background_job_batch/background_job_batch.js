// Background Job Batch form (Frappe desk). Mirrors frappe.ui.form.on conventions of Frappe 15.
//
// - The batch's progress (share of its jobs ended) is drawn from the stored counts and follows
//   batch_progress / batch_completed for this batch (the form joins doc:Background Job Batch/<name>).
// - "View Jobs" opens the Background Job list filtered by this batch; "Cancel Batch" (while Running, for
//   users who may change it) calls dartwing.jobs.cancel_batch, which checks permissions again.
frappe.ui.form.on("Background Job Batch", {
	setup(frm) {
		frm._dartwing_batch = (data) => {
			if (data.batch === frm.doc.name && !frm.is_dirty()) {
				frm.reload_doc();
			}
		};
		frappe.realtime.on("batch_progress", frm._dartwing_batch);
		frappe.realtime.on("batch_completed", frm._dartwing_batch);
	},

	refresh(frm) {
		frm.disable_save();
		if (frm.is_new()) {
			return;
		}
		frappe.realtime.doc_subscribe(frm.doctype, frm.doc.name);
		frm.add_custom_button(__("View Jobs"), () => {
			frappe.set_route("List", "Background Job", { batch: frm.doc.name });
		});
		const may_change = frm.perm[0] && frm.perm[0].write;
		if (frm.doc.status === "Running" && !frm.doc.cancel_requested && may_change !== 0) {
			frm.add_custom_button(__("Cancel Batch"), () => {
				frappe.confirm(__("Cancel every job of batch {0} that has not ended?", [frm.doc.name]), () =>
					frappe
						.call({
							method: "dartwing.jobs.cancel_batch",
							args: { batch: frm.doc.name },
							type: "POST",
						})
						.then(() => {
							frappe.show_alert({ message: __("Batch cancel requested"), indicator: "orange" });
							frm.reload_doc();
						})
				);
			});
		}
		show_batch_progress(frm);
	},

	before_unload(frm) {
		frappe.realtime.off("batch_progress", frm._dartwing_batch);
		frappe.realtime.off("batch_completed", frm._dartwing_batch);
		if (frm.doc && !frm.is_new()) {
			frappe.realtime.doc_unsubscribe(frm.doctype, frm.doc.name);
		}
	},
});

function show_batch_progress(frm) {
	const doc = frm.doc;
	const title = __("{0} of {1} jobs ended: {2} completed, {3} dead-lettered, {4} canceled", [
		doc.ended || 0,
		doc.total || 0,
		doc.completed || 0,
		doc.failed || 0,
		doc.canceled || 0,
	]);
	frm.dashboard.show_progress(__("Batch"), doc.progress || 0, title);
}
