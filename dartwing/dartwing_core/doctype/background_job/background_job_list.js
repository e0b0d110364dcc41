// Background Job list and report views (Frappe desk; Frappe 15 list_view.js / report_view.js conventions).
//
// - One indicator colour per status; "Running n%" while a job runs.
// - No "Add Background Job": jobs are submitted through the API (submit_job), never created by hand.
// - Live without a cross-tenant room: the doctype is read-only, so Frappe sends no list_update, and
//   doctype:Background Job would reach every member. The view joins doc:Organization/<org> for the
//   organizations dartwing.dartwing_core.api.desk.job_feed_organizations names (the Socket.IO server
//   joins each only after has_permission on that Organization), refreshes the changed rows the way
//   Frappe's list_update does (pending_document_refreshes, debounced; the report view reloads), and
//   leaves the rooms when the user leaves the view. decisions.md (spec 011), "A live job list".
// - Dead letter jobs (System Managers): Retry / Delete of the checked jobs from the Actions menu, through
//   dartwing.jobs.retry_dead_letter_jobs / delete_dead_letter_jobs (which check again); "Edit and Retry"
//   opens the first checked job's parameters in the dialog the form shares (dartwing.dead_letter,
//   public/js/dartwing_desk.bundle.js) and retries every checked dead letter with the edited ones after a
//   confirmation (all or nothing; the server validates them as a submission's).
const BACKGROUND_JOB_INDICATORS = {
	Scheduled: "purple",
	Pending: "yellow",
	Queued: "cyan",
	Running: "blue",
	Completed: "green",
	Failed: "orange",
	"Timed Out": "orange",
	Canceled: "gray",
	"Dead Letter": "red",
};
const DEAD_LETTER_REPORT = "Dead Letter Jobs";
const FEED_METHOD = "dartwing.dartwing_core.api.desk.job_feed_organizations";
const FEED_RENEW_MS = 60 * 1000; // organizations with new activity are joined within a minute
const SEEN_EVENTS_MAX = 500; // status events remembered to apply each once (they arrive per room)
const REPORT_RELOAD_MS = 2000; // the report view reloads at most this often while jobs change

frappe.listview_settings["Background Job"] = {
	add_fields: [
		"status",
		"progress",
		"job_type",
		"organization",
		"retry_count",
		"cancel_requested",
		"run_at",
	],
	hide_name_column: false,
	has_indicator_for_draft: true,

	get_indicator(doc) {
		const color = BACKGROUND_JOB_INDICATORS[doc.status] || "gray";
		let label = __(doc.status);
		if (doc.status === "Running" && doc.cancel_requested) {
			label = __("Canceling");
		} else if (doc.status === "Running") {
			label = __("Running {0}%", [Math.round(doc.progress || 0)]);
		} else if (doc.status === "Scheduled" && doc.run_at) {
			label = __("Scheduled {0}", [frappe.datetime.str_to_user(doc.run_at)]);
		}
		return [label, color, `status,=,${doc.status}`];
	},

	formatters: {
		progress(value) {
			return `${Math.round(value || 0)}%`;
		},
	},

	onload(listview) {
		hide_add_button(listview);
		listview.page.add_inner_button(__("Dead Letter"), () => {
			frappe.set_route("List", "Background Job", "Report", DEAD_LETTER_REPORT);
		});
		listview.page.add_inner_button(__("Job Monitor"), () => {
			window.open("/job-monitor", "_blank");
		});
		add_dead_letter_actions(listview);
		follow_job_events(listview);
	},

	refresh(listview) {
		hide_add_button(listview);
	},
};

function hide_add_button(listview) {
	// set_primary_action() (run again when checkboxes toggle the Actions menu) reads can_create
	listview.can_create = false;
	listview.page.clear_primary_action();
}

// ---------------------------------------------------------------- dead letter actions

function add_dead_letter_actions(listview) {
	if (!frappe.user.has_role("System Manager") && frappe.session.user !== "Administrator") {
		return;
	}
	listview.page.add_actions_menu_item(__("Retry Dead Letter Jobs"), () => act_on_dead_letters(listview, "retry"), false);
	listview.page.add_actions_menu_item(__("Delete Dead Letter Jobs"), () => act_on_dead_letters(listview, "delete"), false);
	listview.page.add_actions_menu_item(__("Edit and Retry Dead Letter Jobs"), () => edit_and_retry(listview), false);
}

function edit_and_retry(listview) {
	const job_ids = listview
		.get_checked_items()
		.filter((doc) => doc.status === "Dead Letter")
		.map((doc) => doc.name);
	if (!job_ids.length) {
		frappe.msgprint(__("Select jobs in Dead Letter status."));
		return;
	}
	frappe.db.get_value("Background Job", job_ids[0], "parameters").then((r) =>
		dartwing.dead_letter
			.edit_and_retry({
				job_ids,
				parameters: (r.message || {}).parameters || "{}",
				title: __("Edit and Retry {0} dead-lettered job(s)", [job_ids.length]),
				description: __("The parameters of {0}. Every selected job is retried with the edited parameters.", [job_ids[0]]),
				confirm: __("Retry {0} job(s) with the edited parameters?", [job_ids.length]),
				done: __("Retried {0}.", [job_ids.length]),
			})
			.then(() => {
				listview.clear_checked_items();
				listview.refresh();
			})
	);
}

function act_on_dead_letters(listview, action) {
	const checked = listview.get_checked_items();
	const job_ids = checked.filter((doc) => doc.status === "Dead Letter").map((doc) => doc.name);
	const skipped = checked.length - job_ids.length;
	if (!job_ids.length) {
		frappe.msgprint(__("Select jobs in Dead Letter status."));
		return;
	}
	const question =
		action === "retry"
			? __("Retry {0} dead-lettered job(s)? They go back to Pending with a fresh retry budget.", [job_ids.length])
			: __("Delete {0} dead-lettered job(s) and their logs? This cannot be undone.", [job_ids.length]);
	const note = skipped ? " " + __("{0} selected job(s) are not in Dead Letter and are left alone.", [skipped]) : "";
	frappe.confirm(question + note, () => {
		const method = action === "retry" ? "dartwing.jobs.retry_dead_letter_jobs" : "dartwing.jobs.delete_dead_letter_jobs";
		listview.disable_list_update = true; // one refresh after the bulk call, as Frappe's bulk actions do
		frappe
			.call({ method, args: { job_ids }, freeze: true })
			.then((r) => {
				const reply = r.message || {};
				const done = (action === "retry" ? reply.retried : reply.deleted) || [];
				const failed = Object.entries(reply.failed || {});
				const summary = action === "retry" ? __("Retried {0}.", [done.length]) : __("Deleted {0}.", [done.length]);
				frappe.show_alert({ message: summary, indicator: failed.length ? "orange" : "green" });
				if (failed.length) {
					const rows = failed.map(([id, reason]) => `<li>${frappe.utils.escape_html(`${id}: ${reason}`)}</li>`);
					frappe.msgprint({ title: __("Not done"), message: `<ul>${rows.join("")}</ul>`, indicator: "orange" });
				}
			})
			.always(() => {
				listview.disable_list_update = false;
				listview.clear_checked_items();
				listview.refresh();
			});
	});
}

// ---------------------------------------------------------------- live list

function on_this_view(listview) {
	const route = frappe.get_route() || [];
	return route[0] === "List" && route[1] === listview.doctype;
}

function follow_job_events(listview) {
	if (listview._dartwing_feed || !frappe.realtime.socket) {
		return;
	}
	const feed = { rooms: new Set(), seen: new Set(), timer: null };
	listview._dartwing_feed = feed;
	const reload_report = frappe.utils.debounce(() => {
		listview.last_args = null; // refresh() skips a call with the same arguments within 3 s
		listview.refresh();
	}, REPORT_RELOAD_MS);

	frappe.realtime.on("job_status_changed", (event) => {
		if (!feed.timer || !first_delivery(feed, event)) {
			return;
		}
		// the same conditions as Frappe's list_update handler (list_view.js, setup_realtime_updates)
		if ((listview.$checks && listview.$checks.length) || listview.avoid_realtime_update()) {
			return;
		}
		if (listview.view_name === "Report") {
			reload_report(); // the report view draws a datatable, not list rows
			return;
		}
		listview.pending_document_refreshes = listview.pending_document_refreshes || [];
		listview.pending_document_refreshes.push({ doctype: listview.doctype, name: event.job });
		listview.debounced_refresh();
	});
	// rooms do not survive a reconnect: join them again
	frappe.realtime.socket.on("connect", () => {
		feed.rooms.clear();
		if (feed.timer) {
			join_feed_rooms(feed);
		}
	});
	frappe.router.on("change", () => (on_this_view(listview) ? start_feed(feed) : stop_feed(feed)));
	start_feed(feed);
}

function start_feed(feed) {
	if (feed.timer) {
		return;
	}
	feed.timer = setInterval(() => join_feed_rooms(feed), FEED_RENEW_MS);
	join_feed_rooms(feed);
}

function stop_feed(feed) {
	if (!feed.timer) {
		return;
	}
	clearInterval(feed.timer);
	feed.timer = null;
	for (const organization of feed.rooms) {
		leave_room(organization);
	}
	feed.rooms.clear();
}

function join_feed_rooms(feed) {
	// frappe.call, not xcall: Frappe 15's xcall takes no method type and always POSTs (403 on a GET-only
	// whitelisted method).
	new Promise((resolve, reject) => {
		frappe.call({
			method: FEED_METHOD,
			type: "GET",
			callback: (r) => resolve(r.message),
			error: reject,
		});
	})
		.catch(() => null) // the list still works, without live updates, until the next renewal
		.then((organizations) => {
			if (!feed.timer || organizations === null) {
				return; // the user left the view meanwhile, or the call failed
			}
			const wanted = new Set(organizations || []);
			for (const organization of wanted) {
				if (!feed.rooms.has(organization)) {
					// emit, not doc_subscribe: Frappe's helper lets one subscription through per second
					frappe.realtime.emit("doc_subscribe", "Organization", organization);
					feed.rooms.add(organization);
				}
			}
			for (const organization of [...feed.rooms]) {
				if (!wanted.has(organization)) {
					leave_room(organization);
					feed.rooms.delete(organization);
				}
			}
		});
}

function leave_room(organization) {
	// an open Organization form keeps the room it joined (frappe.realtime.open_docs)
	if (!frappe.realtime.open_docs.has(`Organization:${organization}`)) {
		frappe.realtime.emit("doc_unsubscribe", "Organization", organization);
	}
}

function first_delivery(feed, event) {
	const key = [event.job, event.from, event.to, event.time].join("|");
	if (feed.seen.has(key)) {
		return false;
	}
	feed.seen.add(key);
	if (feed.seen.size > SEEN_EVENTS_MAX) {
		feed.seen.delete(feed.seen.values().next().value);
	}
	return true;
}
