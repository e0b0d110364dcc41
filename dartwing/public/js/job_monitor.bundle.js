// The job monitor page (/job-monitor): a bundle (`bench build` makes it, as scripts/build-assets.sh does
// on benchless), plain browser JavaScript, no framework.
//
// Contract:
// - Data comes only from the whitelisted API dartwing.jobs.* (GET for reads, POST with the session's
//   X-Frappe-CSRF-Token for changes). The server decides what this user may see and do: each job
//   carries can_manage, and the status sets come from the page's config (transitions.py, the one
//   source); the page only hides buttons that would be refused.
// - Every string shown goes through __(), which reads the page's config.messages (translated by the
//   server for the user's language, like the markup around it).
// - Server times are naive, in the site's time zone (config.time_zone.system, as Frappe stores them);
//   they are shown in the user's time zone (config.time_zone.user), as Frappe's desk does.
// - Live updates come from Frappe's Socket.IO server (socket.io-client, bundled): the page joins
//   doc:Background Job/<job> for each visible job and doc:Organization/<org> for each of the user's
//   organizations (both permission-checked by the server) and applies job_progress /
//   job_status_changed; batch_progress / batch_completed (the same organization rooms) reload the batches
//   panel (dartwing.jobs.list_batches). A job's event reaches the page once per room it shares with that job, so a
//   status event is applied once (by job, from, to and time) and the job is read again once.
// - Everything the server sends is put into the page as text (textContent), never as HTML.
import { io } from "socket.io-client";

function startMonitor() {
	const root = document.getElementById("job-monitor");
	if (!root) {
		return;
	}
	const config = JSON.parse(document.getElementById("job-monitor-config").textContent);
	const csrfToken = root.dataset.csrfToken || (window.frappe && window.frappe.csrf_token) || "";

	const STATUSES = config.job_statuses;
	const CANCELABLE = new Set(STATUSES.cancelable);
	const RETRYABLE = new Set(STATUSES.retryable);
	const ACTIVE = new Set(STATUSES.active);
	const TIME_ZONE = config.time_zone || {};
	const SEEN_EVENTS_MAX = 500; // status events remembered for de-duplication
	const JOB_REFRESH_MS = 150; // status events of one job within this window cause one read
	const LIST_LIMIT = 50;
	const DEAD_LETTER_LIMIT = 20; // newest first; the total is shown beside the title
	const SCHEDULE_LIMIT = 20; // soonest next run first
	const SCHEDULES_REFRESH_MS = 30000; // next runs move on as occurrences pass
	const OFFLINE_POLL_MS = 5000; // only while the socket is down
	const CHART_COLORS = ["#d9480f", "#1971c2", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#e64980", "#5c940d"];

	const state = {
		jobs: new Map(), // job_id -> job object as rendered
		seenStatusEvents: new Set(),
		refreshTimers: new Map(), // job_id -> timer of its pending read
		readsInFlight: 0,
		statusEventsReceived: 0,
		statusEventsApplied: 0,
		subscribedJobs: new Set(),
		socket: null,
		reloadTimer: null,
		batchesTimer: null,
		pollTimer: null,
		selectedHistoryJob: null,
	};

	// ---------------------------------------------------------------- translation

	// Frappe's __(text, [args]): the translated text with {0}, {1}… replaced.
	function __(text, args = []) {
		const messages = config.messages || {};
		let translated = messages[text];
		if (translated === undefined) {
			translated = typeof window.__ === "function" ? window.__(text) : text;
		}
		return String(translated).replace(/\{(\d+)\}/g, (match, index) =>
			args[index] === undefined ? match : String(args[index])
		);
	}

	// ---------------------------------------------------------------- API

	async function api(method, args = {}, verb = "GET") {
		const options = {
			method: verb,
			credentials: "same-origin",
			headers: { Accept: "application/json" },
		};
		let url = "/api/method/" + method;
		const cleanArgs = Object.fromEntries(
			Object.entries(args).filter(([, value]) => value !== undefined && value !== null && value !== "")
		);
		if (verb === "GET") {
			const query = new URLSearchParams(cleanArgs).toString();
			url += query ? "?" + query : "";
		} else {
			options.headers["Content-Type"] = "application/json";
			options.headers["X-Frappe-CSRF-Token"] = csrfToken;
			options.body = JSON.stringify(cleanArgs);
		}
		const response = await fetch(url, options);
		const body = await response.json().catch(() => ({}));
		if (!response.ok) {
			const error = new Error(serverMessage(body) || body.exc_type || response.statusText);
			error.status = response.status;
			error.excType = body.exc_type;
			throw error;
		}
		return body.message;
	}

	// Frappe's _server_messages: a JSON list of JSON-encoded {message, title, indicator}.
	function serverMessage(body) {
		if (!body || !body._server_messages) {
			return body && typeof body.message === "string" ? body.message : "";
		}
		try {
			return JSON.parse(body._server_messages)
				.map((entry) => {
					const parsed = typeof entry === "string" ? JSON.parse(entry) : entry;
					return stripTags(parsed.message || "");
				})
				.join(" ");
		} catch {
			return "";
		}
	}

	function stripTags(html) {
		const div = document.createElement("div");
		div.innerHTML = html;
		return div.textContent || "";
	}

	// ---------------------------------------------------------------- small DOM helpers

	function el(tag, attributes = {}, children = []) {
		const node = document.createElement(tag);
		for (const [key, value] of Object.entries(attributes)) {
			if (value === undefined || value === null || value === false) {
				continue;
			}
			if (key === "text") {
				node.textContent = value;
			} else if (key === "className") {
				node.className = value;
			} else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role" || key === "title") {
				node.setAttribute(key, value);
			} else {
				node[key] = value;
			}
		}
		for (const child of [].concat(children)) {
			if (child !== null && child !== undefined) {
				node.append(child);
			}
		}
		return node;
	}

	function setMessage(id, text, kind = "info") {
		const node = document.getElementById(id);
		if (!node) {
			return;
		}
		node.textContent = text || "";
		node.dataset.kind = kind;
	}

	// ---------------------------------------------------------------- time zones

	const NAIVE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?$/;
	const zoneFormatters = new Map();

	function zoneParts(instant, zone) {
		const key = zone || "";
		if (!zoneFormatters.has(key)) {
			zoneFormatters.set(
				key,
				new Intl.DateTimeFormat("en-US", {
					timeZone: zone || undefined,
					hourCycle: "h23",
					year: "numeric",
					month: "2-digit",
					day: "2-digit",
					hour: "2-digit",
					minute: "2-digit",
					second: "2-digit",
				})
			);
		}
		const parts = {};
		for (const part of zoneFormatters.get(key).formatToParts(new Date(instant))) {
			if (part.type !== "literal") {
				parts[part.type] = Number(part.value);
			}
		}
		return parts;
	}

	// How far the zone's wall clock is ahead of UTC at that instant, in milliseconds.
	function zoneOffset(instant, zone) {
		const p = zoneParts(instant, zone);
		const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
		return wall - Math.floor(instant / 1000) * 1000;
	}

	// A naive server time ("2025-01-31 14:05:00", "2025-01-31T14:05:00.123") read in the site's zone.
	function serverInstant(text) {
		const m = NAIVE_TIME.exec(String(text));
		if (!m) {
			const parsed = Date.parse(text); // carries its own offset, or is not a time at all
			return Number.isNaN(parsed) ? null : parsed;
		}
		const millis = Number(((m[7] || "") + "000").slice(0, 3));
		const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0), millis);
		const guess = wall - zoneOffset(wall, TIME_ZONE.system);
		return wall - zoneOffset(guess, TIME_ZONE.system); // second step: right across a DST change
	}

	// "YYYY-MM-DD HH:mm:ss" on the user's clock.
	function formatTime(text) {
		if (!text) {
			return "";
		}
		const instant = serverInstant(text);
		if (instant === null) {
			return String(text);
		}
		const p = zoneParts(instant, TIME_ZONE.user || TIME_ZONE.system);
		const pad = (n) => String(n).padStart(2, "0");
		return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
	}

	function statusBadge(status) {
		return el("span", { className: "jm-status", "data-status": status, text: __(status) });
	}

	function progressBar(percent, message) {
		const value = Math.max(0, Math.min(100, Number(percent) || 0));
		const bar = el("div", {
			className: "jm-progress",
			role: "progressbar",
			"aria-valuemin": "0",
			"aria-valuemax": "100",
			"aria-valuenow": String(Math.round(value)),
		});
		bar.append(el("div", { className: "jm-progress-fill" }), el("span", { className: "jm-progress-label" }));
		const wrapper = el("div", { className: "jm-progress-cell" }, [
			bar,
			el("div", { className: "jm-progress-message" }),
		]);
		paintProgress(wrapper, value, message);
		return wrapper;
	}

	function paintProgress(wrapper, percent, message) {
		const value = Math.max(0, Math.min(100, Number(percent) || 0));
		const bar = wrapper.querySelector(".jm-progress");
		bar.setAttribute("aria-valuenow", String(Math.round(value)));
		bar.querySelector(".jm-progress-fill").style.width = value + "%";
		bar.querySelector(".jm-progress-label").textContent = Math.round(value) + "%";
		wrapper.querySelector(".jm-progress-message").textContent = message || "";
	}

	// ---------------------------------------------------------------- jobs list

	function currentFilters() {
		const form = document.getElementById("jm-filters");
		return {
			organization: form.organization.value,
			status: form.status.value,
			job_type: form.job_type.value,
		};
	}

	function matchesFilters(job) {
		const filters = currentFilters();
		return Object.entries(filters).every(([key, value]) => !value || job[key] === value);
	}

	async function loadJobs() {
		try {
			const reply = await api("dartwing.jobs.list_jobs", { ...currentFilters(), limit: LIST_LIMIT });
			renderJobs(reply.jobs || [], reply.total || 0);
			setMessage("jm-jobs-message", "");
		} catch (error) {
			setMessage("jm-jobs-message", error.message, "error");
		}
	}

	function scheduleReload() {
		clearTimeout(state.reloadTimer);
		state.reloadTimer = setTimeout(loadJobs, 300);
	}

	function renderJobs(jobs, total) {
		const body = document.getElementById("jm-jobs-body");
		body.replaceChildren();
		state.jobs.clear();
		if (!jobs.length) {
			body.append(el("tr", { className: "jm-empty" }, el("td", { colSpan: 7, text: __("No jobs yet.") })));
		}
		for (const job of jobs) {
			state.jobs.set(job.job_id, job);
			body.append(jobRow(job));
		}
		document.getElementById("jm-jobs-total").textContent = total ? `(${total})` : "";
		syncJobSubscriptions();
	}

	function jobRow(job) {
		const row = el("tr", { className: "jm-job", "data-job-id": job.job_id, "data-status": job.status });
		row.append(
			el("td", {}, el("code", { text: job.job_id })),
			el("td", { text: job.job_type }),
			el("td", { text: job.organization }),
			el("td", { className: "jm-col-status" }, statusBadge(job.status)),
			el("td", { className: "jm-col-progress" }, progressBar(job.progress, progressText(job))),
			el("td", { className: "jm-col-created", text: formatTime(job.created_at), title: job.submitted_by }),
			el("td", { className: "jm-col-actions" }, jobActions(job))
		);
		row.addEventListener("click", (event) => {
			if (!event.target.closest("button")) {
				showHistory(job.job_id);
			}
		});
		return row;
	}

	function progressText(job) {
		if (job.error && job.status !== "Completed") {
			return `${job.error.type}: ${job.error.message || ""}`;
		}
		return job.progress_message || "";
	}

	function jobActions(job) {
		const actions = el("div", { className: "jm-actions" });
		if (job.can_manage && CANCELABLE.has(job.status) && !job.cancel_requested) {
			actions.append(actionButton(__("Cancel"), "jm-cancel", () => cancelJob(job.job_id)));
		}
		if (job.can_manage && RETRYABLE.has(job.status)) {
			actions.append(actionButton(__("Retry"), "jm-retry", () => retryJob(job.job_id)));
		}
		actions.append(actionButton(__("History"), "jm-history-btn", () => showHistory(job.job_id)));
		return actions;
	}

	function actionButton(label, className, onClick) {
		const button = el("button", { type: "button", className: `jm-btn jm-btn-small ${className}`, text: label });
		button.addEventListener("click", async (event) => {
			event.stopPropagation();
			button.disabled = true;
			try {
				await onClick();
			} finally {
				button.disabled = false;
			}
		});
		return button;
	}

	function updateJob(jobId, changes) {
		const job = state.jobs.get(jobId);
		if (!job) {
			return;
		}
		Object.assign(job, changes);
		const row = document.querySelector(`tr.jm-job[data-job-id="${CSS.escape(jobId)}"]`);
		if (row) {
			row.replaceWith(jobRow(job));
		}
	}

	// data-job-reads-pending: reads scheduled or under way (0 once the page has settled)
	function noteReadsPending() {
		root.dataset.jobReadsPending = String(state.refreshTimers.size + state.readsInFlight);
	}

	function scheduleJobRefresh(jobId) {
		clearTimeout(state.refreshTimers.get(jobId));
		state.refreshTimers.set(
			jobId,
			setTimeout(() => {
				state.refreshTimers.delete(jobId);
				refreshJob(jobId);
			}, JOB_REFRESH_MS)
		);
		noteReadsPending();
	}

	async function refreshJob(jobId) {
		state.readsInFlight += 1;
		noteReadsPending();
		try {
			const job = await api("dartwing.jobs.get_job_status", { job_id: jobId });
			updateJob(jobId, job);
		} catch (error) {
			if (error.status === 404) {
				scheduleReload(); // deleted or no longer visible
			}
		} finally {
			state.readsInFlight -= 1;
			noteReadsPending();
		}
	}

	async function cancelJob(jobId) {
		try {
			const reply = await api("dartwing.jobs.cancel_job", { job_id: jobId }, "POST");
			updateJob(jobId, { status: reply.status, cancel_requested: reply.cancel_requested });
			setMessage("jm-jobs-message", reply.cancel_requested ? __("Cancel requested for {0}.", [jobId]) : __("{0} canceled.", [jobId]));
		} catch (error) {
			setMessage("jm-jobs-message", error.message, "error");
		}
	}

	async function retryJob(jobId) {
		try {
			const reply = await api("dartwing.jobs.retry_job", { job_id: jobId }, "POST");
			updateJob(jobId, { status: reply.status, progress: 0, error: null });
			setMessage("jm-jobs-message", __("{0} will be retried.", [jobId]));
		} catch (error) {
			setMessage("jm-jobs-message", error.message, "error");
		}
	}

	// ---------------------------------------------------------------- submit

	function setupSubmitForm() {
		const form = document.getElementById("jm-submit-form");
		if (!form) {
			return;
		}
		form.addEventListener("submit", async (event) => {
			event.preventDefault();
			let parameters;
			try {
				parameters = form.parameters.value.trim() ? JSON.parse(form.parameters.value) : {};
			} catch {
				setMessage("jm-submit-message", __("Parameters must be valid JSON."), "error");
				return;
			}
			if (typeof parameters !== "object" || Array.isArray(parameters) || parameters === null) {
				setMessage("jm-submit-message", __("Parameters must be a JSON object."), "error");
				return;
			}
			const button = document.getElementById("jm-submit-button");
			button.disabled = true;
			try {
				const reply = await api(
					"dartwing.jobs.submit_job",
					{ job_type: form.job_type.value, organization: form.organization.value, parameters },
					"POST"
				);
				const text = reply.deduplicated
					? __("Submitted {0}: {1} (an identical job already exists).", [reply.job_id, __(reply.status)])
					: __("Submitted {0}: {1}.", [reply.job_id, __(reply.status)]);
				setMessage("jm-submit-message", text, "success");
				root.dataset.lastSubmitted = reply.job_id;
				await loadJobs();
			} catch (error) {
				setMessage("jm-submit-message", error.message, "error");
			} finally {
				button.disabled = false;
			}
		});
	}

	// ---------------------------------------------------------------- history

	async function showHistory(jobId) {
		const panel = document.getElementById("jm-history");
		const list = document.getElementById("jm-history-list");
		state.selectedHistoryJob = jobId;
		document.getElementById("jm-history-job").textContent = jobId;
		panel.hidden = false;
		list.replaceChildren(el("li", { text: __("Loading…") }));
		showWaitingFor(jobId);
		try {
			const reply = await api("dartwing.jobs.get_job_history", { job_id: jobId });
			list.replaceChildren(...reply.history.map(historyItem));
			if (!reply.history.length) {
				list.append(el("li", { text: __("No history.") }));
			}
		} catch (error) {
			list.replaceChildren(el("li", { className: "jm-error", text: error.message }));
		}
	}

	// why the job has not started yet (gates.waiting_for on the server), beside its history
	async function showWaitingFor(jobId) {
		const line = document.getElementById("jm-history-waiting");
		line.hidden = true;
		try {
			const job = await api("dartwing.jobs.get_job_status", { job_id: jobId });
			if (state.selectedHistoryJob !== jobId || !job.waiting_for) {
				return;
			}
			line.dataset.gate = job.waiting_for.gate;
			line.textContent = __("Waiting: {0}", [job.waiting_for.message]);
			line.hidden = false;
		} catch {
			line.hidden = true; // the history below reports the error
		}
	}

	function historyItem(entry) {
		const transition = `${entry.from_status ? __(entry.from_status) : "—"} → ${__(entry.to_status)}`;
		const details = [formatTime(entry.timestamp), entry.actor, __("attempt {0}", [entry.attempt]), entry.worker]
			.filter(Boolean)
			.join(" · ");
		return el("li", { className: "jm-history-item", "data-to-status": entry.to_status }, [
			el("strong", { text: transition }),
			el("span", { className: "jm-muted", text: " " + details }),
			entry.message ? el("div", { text: entry.message }) : null,
		]);
	}

	// ---------------------------------------------------------------- batches

	const BATCH_LIMIT = 10; // newest first; the total is shown beside the title
	// literal, so that the server sends their translations with the page's messages
	const BATCH_STATUS_LABELS = {
		Running: __("Running"),
		Completed: __("Completed"),
		"Completed with failures": __("Completed with failures"),
		Canceled: __("Canceled"),
	};

	async function loadBatches() {
		try {
			const reply = await api("dartwing.jobs.list_batches", { limit: BATCH_LIMIT });
			renderBatches(reply.batches || [], reply.total || 0);
			setMessage("jm-batches-message", "");
		} catch (error) {
			setMessage("jm-batches-message", error.message, "error");
		}
	}

	function scheduleBatchesReload() {
		// a batch event arrives once per room it shares with the page: one read for all of them
		clearTimeout(state.batchesTimer);
		state.batchesTimer = setTimeout(loadBatches, 300);
	}

	function renderBatches(batches, total) {
		const body = document.getElementById("jm-batches-body");
		body.replaceChildren();
		if (!batches.length) {
			body.append(el("tr", { className: "jm-empty" }, el("td", { colSpan: 6, text: __("No batches yet.") })));
		}
		for (const batch of batches) {
			body.append(batchRow(batch));
		}
		document.getElementById("jm-batches-total").textContent = total ? `(${total})` : "";
	}

	function batchRow(batch) {
		const row = el("tr", { className: "jm-batch", "data-batch": batch.batch, "data-status": batch.status });
		const counts = __("{0} of {1} ended: {2} completed, {3} dead-lettered, {4} canceled", [
			batch.ended,
			batch.total,
			batch.completed,
			batch.failed,
			batch.canceled,
		]);
		const label = BATCH_STATUS_LABELS[batch.status] || batch.status;
		row.append(
			el("td", {}, el("code", { text: batch.batch })),
			el("td", { text: batch.job_type }),
			el("td", { text: batch.organization }),
			el(
				"td",
				{ className: "jm-col-status" },
				el("span", { className: "jm-status", "data-status": batch.status, text: label })
			),
			el("td", { className: "jm-col-progress" }, progressBar(batch.progress, counts)),
			el("td", { className: "jm-col-created", text: formatTime(batch.created_at), title: batch.created_by })
		);
		return row;
	}

	// ---------------------------------------------------------------- realtime

	function socketUrl() {
		// behind nginx (standard ports) Socket.IO shares the page's origin, as on a production bench
		const origin = window.location.port
			? `${window.location.protocol}//${window.location.hostname}:${config.socketio_port}`
			: window.location.origin;
		return `${origin}/${config.site}`;
	}

	function setLive(live) {
		const badge = document.getElementById("jm-live");
		badge.dataset.state = live ? "live" : "offline";
		badge.textContent = live ? __("live") : __("offline");
		clearInterval(state.pollTimer);
		if (!live) {
			state.pollTimer = setInterval(loadJobs, OFFLINE_POLL_MS);
		}
	}

	function connectRealtime() {
		const socket = io(socketUrl(), { withCredentials: true, reconnectionAttempts: 20 });
		state.socket = socket;
		socket.on("connect", () => {
			setLive(true);
			state.subscribedJobs.clear();
			for (const organization of config.organizations) {
				socket.emit("doc_subscribe", "Organization", organization);
			}
			// anything missed while disconnected is read again, then followed live
			loadJobs();
			loadBatches();
		});
		socket.on("disconnect", () => setLive(false));
		socket.on("connect_error", () => setLive(false));
		socket.on("job_progress", onJobProgress);
		socket.on("job_status_changed", onJobStatusChanged);
		socket.on("batch_progress", scheduleBatchesReload);
		socket.on("batch_completed", scheduleBatchesReload);
	}

	function syncJobSubscriptions() {
		const socket = state.socket;
		if (!socket || !socket.connected) {
			return;
		}
		for (const jobId of state.jobs.keys()) {
			if (!state.subscribedJobs.has(jobId)) {
				socket.emit("doc_subscribe", "Background Job", jobId);
				state.subscribedJobs.add(jobId);
			}
		}
		for (const jobId of [...state.subscribedJobs]) {
			if (!state.jobs.has(jobId)) {
				socket.emit("doc_unsubscribe", "Background Job", jobId);
				state.subscribedJobs.delete(jobId);
			}
		}
	}

	function onJobProgress(event) {
		const job = state.jobs.get(event.job);
		if (!job || !ACTIVE.has(job.status)) {
			return;
		}
		// progress only moves forward within a run; duplicates and late events change nothing
		if (Number(event.percent) < Number(job.progress)) {
			return;
		}
		job.progress = Number(event.percent);
		job.progress_message = event.message || "";
		const row = document.querySelector(`tr.jm-job[data-job-id="${CSS.escape(event.job)}"]`);
		if (row) {
			paintProgress(row.querySelector(".jm-progress-cell"), job.progress, job.progress_message);
		}
	}

	// True the first time this status event arrives (it comes once per room the page shares with the job).
	function firstDelivery(event) {
		const key = [event.job, event.from, event.to, event.time].join("|");
		if (state.seenStatusEvents.has(key)) {
			return false;
		}
		state.seenStatusEvents.add(key);
		if (state.seenStatusEvents.size > SEEN_EVENTS_MAX) {
			state.seenStatusEvents.delete(state.seenStatusEvents.values().next().value);
		}
		return true;
	}

	function onJobStatusChanged(event) {
		state.statusEventsReceived += 1;
		root.dataset.statusEventsReceived = String(state.statusEventsReceived);
		if (!firstDelivery(event)) {
			return;
		}
		state.statusEventsApplied += 1;
		root.dataset.statusEventsApplied = String(state.statusEventsApplied);
		const job = state.jobs.get(event.job);
		if (!job) {
			if (matchesFilters({ organization: event.organization, status: event.to, job_type: event.job_type })) {
				scheduleReload();
			}
			return;
		}
		if (job.status !== event.to) {
			const changes = { status: event.to };
			if (event.to === "Completed") {
				changes.progress = 100;
			} else if (event.to === "Pending" || event.to === "Queued") {
				changes.progress = 0;
			}
			updateJob(event.job, changes);
		}
		scheduleJobRefresh(event.job); // the row's error, timestamps and message come from the server
		if (state.selectedHistoryJob === event.job) {
			showHistory(event.job);
		}
		if (config.is_admin && event.to === "Dead Letter") {
			loadDeadLetters();
		}
	}

	// ---------------------------------------------------------------- upcoming runs (Job Schedules)

	async function loadSchedules() {
		try {
			const reply = await api("dartwing.jobs.list_schedules", { limit: SCHEDULE_LIMIT });
			renderSchedules(reply.schedules || [], reply.total || 0);
			setMessage("jm-schedules-message", "");
		} catch (error) {
			setMessage("jm-schedules-message", error.message, "error");
		}
		root.dataset.schedules = "loaded";
	}

	function renderSchedules(schedules, total) {
		const body = document.getElementById("jm-schedules-body");
		document.getElementById("jm-schedules-total").textContent = `(${total})`;
		body.replaceChildren();
		if (!schedules.length) {
			body.append(el("tr", { className: "jm-empty" }, el("td", { colSpan: 6, text: __("No schedules.") })));
		}
		// literal __() calls, so the page's translations carry the schedule states (job_monitor.py)
		const states = {
			Active: __("Active"),
			Paused: __("Paused"),
			"Not submitted": __("Not submitted"),
			Disabled: __("Disabled"),
		};
		for (const schedule of schedules) {
			const status = states[schedule.enabled ? schedule.status : "Disabled"] || schedule.status;
			body.append(
				el("tr", { className: "jm-schedule", "data-schedule": schedule.schedule }, [
					el("td", { text: schedule.enabled ? formatTime(schedule.next_run_at) : "—" }),
					el("td", { text: schedule.job_type }),
					el("td", { text: schedule.organization }),
					el("td", {}, el("code", { text: `${schedule.cron_expression} (${schedule.time_zone})` })),
					el("td", { text: status, title: schedule.reason || "" }),
					el("td", {}, schedule.last_job ? el("code", { text: schedule.last_job }) : null),
				])
			);
		}
	}

	// ---------------------------------------------------------------- dead letter (System Manager)

	async function loadDeadLetters() {
		if (!document.getElementById("jm-dead-letter")) {
			return;
		}
		try {
			const reply = await api("dartwing.jobs.get_dead_letter_jobs", { limit: DEAD_LETTER_LIMIT });
			renderDeadLetters(reply.jobs || [], reply.total || 0);
			setMessage("jm-dead-letter-message", "");
		} catch (error) {
			setMessage("jm-dead-letter-message", error.message, "error");
		}
	}

	function renderDeadLetters(jobs, total) {
		const body = document.getElementById("jm-dead-letter-body");
		body.replaceChildren();
		document.getElementById("jm-dead-letter-total").textContent = `(${total})`;
		document.getElementById("jm-dl-select-all").checked = false;
		if (!jobs.length) {
			body.append(el("tr", { className: "jm-empty" }, el("td", { colSpan: 7, text: __("The dead letter queue is empty.") })));
		}
		for (const job of jobs) {
			body.append(deadLetterRow(job));
		}
		updateBulkButtons();
	}

	function deadLetterRow(job) {
		const error = job.error || {};
		const checkbox = el("input", { type: "checkbox", className: "jm-dl-select", value: job.job_id });
		checkbox.setAttribute("aria-label", __("Select {0}", [job.job_id]));
		checkbox.addEventListener("change", updateBulkButtons);
		const errorCell = el("td", { className: "jm-dl-error" }, [
			el("strong", { className: "jm-error-type", text: error.type || "" }),
			el("div", { className: "jm-error-message", text: error.message || "" }),
			error.traceback
				? el("details", {}, [el("summary", { text: __("Traceback") }), el("pre", { text: error.traceback })])
				: null,
		]);
		const attempts = job.attempts || [];
		const attemptsCell = el("td", { className: "jm-dl-attempts" }, [
			el("span", { className: "jm-attempt-count", text: String(attempts.length) }),
			attempts.length
				? el("details", {}, [
						el("summary", { text: __("Attempts") }),
						el("ol", {}, attempts.map(attemptItem)),
					])
				: null,
		]);
		const actions = el("div", { className: "jm-actions" }, [
			actionButton(__("Retry"), "jm-dl-retry-one", () => actOnDeadLetters("retry", [job.job_id])),
			actionButton(__("Delete"), "jm-dl-delete-one jm-btn-danger", () => actOnDeadLetters("delete", [job.job_id])),
		]);
		return el("tr", { className: "jm-dl-row", "data-job-id": job.job_id }, [
			el("td", {}, checkbox),
			el("td", {}, el("code", { text: job.job_id })),
			el("td", { text: job.job_type }),
			el("td", { text: job.organization }),
			errorCell,
			attemptsCell,
			el("td", {}, actions),
		]);
	}

	function attemptItem(attempt) {
		return el("li", {}, [
			el("div", {
				text: [`#${attempt.attempt}`, attempt.error_type, attempt.error_message, formatTime(attempt.at), attempt.worker]
					.filter(Boolean)
					.join(" · "),
			}),
			attempt.traceback ? el("pre", { text: attempt.traceback }) : null,
		]);
	}

	function selectedDeadLetters() {
		return [...document.querySelectorAll(".jm-dl-select:checked")].map((box) => box.value);
	}

	function updateBulkButtons() {
		const none = selectedDeadLetters().length === 0;
		document.getElementById("jm-dl-retry").disabled = none;
		document.getElementById("jm-dl-delete").disabled = none;
	}

	async function actOnDeadLetters(action, jobIds) {
		if (!jobIds.length) {
			return;
		}
		const question =
			action === "retry"
				? __("Retry {0} dead-lettered job(s)? They go back to Pending with a fresh retry budget.", [jobIds.length])
				: __("Delete {0} dead-lettered job(s)? This cannot be undone.", [jobIds.length]);
		if (!window.confirm(question)) {
			return;
		}
		const method = action === "retry" ? "dartwing.jobs.retry_dead_letter_jobs" : "dartwing.jobs.delete_dead_letter_jobs";
		try {
			const reply = await api(method, { job_ids: jobIds }, "POST");
			const done = reply.retried || reply.deleted || [];
			const failed = Object.entries(reply.failed || {}).map(([id, reason]) => `${id}: ${reason}`);
			const summary = action === "retry" ? __("Retried {0}.", [done.length]) : __("Deleted {0}.", [done.length]);
			const text = failed.length ? `${summary} ${__("Failed: {0}", [failed.join("; ")])}` : summary;
			setMessage("jm-dead-letter-message", text, failed.length ? "error" : "success");
		} catch (error) {
			setMessage("jm-dead-letter-message", error.message, "error");
		}
		await Promise.all([loadDeadLetters(), loadJobs(), loadMetrics()]);
	}

	function setupDeadLetter() {
		if (!document.getElementById("jm-dead-letter")) {
			return;
		}
		document.getElementById("jm-dl-refresh").addEventListener("click", loadDeadLetters);
		document.getElementById("jm-dl-retry").addEventListener("click", () => actOnDeadLetters("retry", selectedDeadLetters()));
		document.getElementById("jm-dl-delete").addEventListener("click", () => actOnDeadLetters("delete", selectedDeadLetters()));
		document.getElementById("jm-dl-select-all").addEventListener("change", (event) => {
			for (const box of document.querySelectorAll(".jm-dl-select")) {
				box.checked = event.target.checked;
			}
			updateBulkButtons();
		});
		loadDeadLetters();
	}

	// ---------------------------------------------------------------- metrics (System Manager)

	async function loadMetrics() {
		if (!document.getElementById("jm-metrics")) {
			return;
		}
		try {
			const metrics = await api("dartwing.jobs.get_job_metrics", { hours: 24 });
			renderMetricNumbers(metrics);
			renderJobTypeMetrics(metrics.by_job_type || []);
			renderFailuresChart(metrics.failures_per_hour || []);
			setMessage("jm-metrics-message", "");
			root.dataset.metrics = "loaded";
		} catch (error) {
			setMessage("jm-metrics-message", __("Metrics unavailable: {0}", [error.message]), "error");
			root.dataset.metrics = "unavailable";
		}
	}

	function renderMetricNumbers(metrics) {
		const byStatus = metrics.by_status || {};
		const byPriority = (metrics.queue_depth || {}).by_priority || {};
		// workers is {live, busy}, or null when Redis could not be asked
		const workers = metrics.workers;
		const numbers = [
			[__("Running"), metrics.running ?? byStatus.Running ?? 0, "running"],
			[__("Queued"), byStatus.Queued || 0, "queued"],
			[__("Pending"), byStatus.Pending || 0, "pending"],
			[__("Scheduled"), metrics.scheduled ?? byStatus.Scheduled ?? 0, "scheduled"],
			[__("Completed"), byStatus.Completed || 0, "completed"],
			[__("Failed"), (byStatus.Failed || 0) + (byStatus["Timed Out"] || 0), "failed"],
			[__("Dead letter"), metrics.dead_letter ?? byStatus["Dead Letter"] ?? 0, "dead-letter"],
			[
				workers ? __("Workers ({0} busy)", [workers.busy ?? 0]) : __("Workers"),
				workers ? workers.live ?? 0 : "—",
				"workers",
			],
		];
		for (const [priority, depth] of Object.entries(byPriority)) {
			numbers.push([__("Depth {0}", [__(priority)]), depth, `depth-${priority.toLowerCase()}`]);
		}
		const container = document.getElementById("jm-metrics-numbers");
		container.replaceChildren(
			...numbers.map(([label, value, key]) =>
				el("div", { className: "jm-number", "data-metric": key }, [
					el("div", { className: "jm-number-value", text: String(value) }),
					el("div", { className: "jm-number-label", text: label }),
				])
			)
		);
	}

	function renderJobTypeMetrics(rows) {
		const body = document.querySelector("#jm-job-type-metrics tbody");
		const fixed = (value, digits) => (value === null || value === undefined ? "—" : Number(value).toFixed(digits));
		body.replaceChildren(
			...rows.map((row) =>
				el("tr", { "data-job-type": row.job_type }, [
					el("td", { text: row.job_type }),
					el("td", { text: String(row.total ?? 0) }),
					el("td", { text: String(row.completed ?? 0) }),
					el("td", { text: String(row.failed ?? 0) }),
					el("td", { text: row.failure_rate === null || row.failure_rate === undefined ? "—" : `${(Number(row.failure_rate) * 100).toFixed(1)}%` }),
					el("td", { text: fixed(row.avg_duration, 2) }),
					el("td", { text: fixed(row.p95_duration, 2) }),
				])
			)
		);
	}

	// A stacked bar per hour, one colour per job type, drawn as plain SVG.
	function renderFailuresChart(points) {
		const container = document.getElementById("jm-failures-chart");
		const SVG = "http://www.w3.org/2000/svg";
		const svgEl = (tag, attributes) => {
			const node = document.createElementNS(SVG, tag);
			for (const [key, value] of Object.entries(attributes)) {
				node.setAttribute(key, value);
			}
			return node;
		};
		if (!points.length) {
			container.replaceChildren(el("p", { className: "jm-muted", text: __("No failures in this window.") }));
			return;
		}
		const hours = [...new Set(points.map((p) => p.hour))].sort();
		const jobTypes = [...new Set(points.map((p) => p.job_type))].sort();
		const totals = hours.map((hour) => points.filter((p) => p.hour === hour).reduce((sum, p) => sum + Number(p.failures), 0));
		const maxTotal = Math.max(1, ...totals);
		const width = 720;
		const height = 220;
		const pad = { left: 36, right: 8, top: 10, bottom: 40 };
		const plotW = width - pad.left - pad.right;
		const plotH = height - pad.top - pad.bottom;
		const slot = plotW / hours.length;
		const barW = Math.max(4, Math.min(40, slot * 0.7));
		const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", class: "jm-svg" });
		svg.append(svgEl("line", { x1: pad.left, y1: pad.top + plotH, x2: width - pad.right, y2: pad.top + plotH, class: "jm-axis" }));
		for (const tick of [0, Math.ceil(maxTotal / 2), maxTotal]) {
			const y = pad.top + plotH - (tick / maxTotal) * plotH;
			const label = svgEl("text", { x: pad.left - 6, y: y + 4, "text-anchor": "end", class: "jm-tick" });
			label.textContent = String(tick);
			svg.append(label, svgEl("line", { x1: pad.left, y1: y, x2: width - pad.right, y2: y, class: "jm-grid" }));
		}
		hours.forEach((hour, index) => {
			let y = pad.top + plotH;
			const x = pad.left + index * slot + (slot - barW) / 2;
			jobTypes.forEach((jobType, typeIndex) => {
				const point = points.find((p) => p.hour === hour && p.job_type === jobType);
				const failures = point ? Number(point.failures) : 0;
				if (!failures) {
					return;
				}
				const h = (failures / maxTotal) * plotH;
				y -= h;
				const rect = svgEl("rect", { x, y, width: barW, height: h, fill: CHART_COLORS[typeIndex % CHART_COLORS.length], class: "jm-bar" });
				const tip = svgEl("title", {});
				tip.textContent = `${formatTime(hour)} · ${jobType}: ${failures}`;
				rect.append(tip);
				svg.append(rect);
			});
			if (hours.length <= 12 || index % Math.ceil(hours.length / 12) === 0) {
				const label = svgEl("text", { x: x + barW / 2, y: height - pad.bottom + 16, "text-anchor": "middle", class: "jm-tick" });
				label.textContent = hourLabel(hour);
				svg.append(label);
			}
		});
		const legend = el(
			"ul",
			{ className: "jm-legend" },
			jobTypes.map((jobType, typeIndex) => {
				const swatch = el("span", { className: "jm-swatch" });
				swatch.style.background = CHART_COLORS[typeIndex % CHART_COLORS.length];
				return el("li", {}, [swatch, document.createTextNode(jobType)]);
			})
		);
		container.replaceChildren(svg, legend);
	}

	function hourLabel(hour) {
		return formatTime(hour).slice(11, 16) || String(hour); // the hour on the user's clock
	}

	// ---------------------------------------------------------------- start

	function setupFilters() {
		const form = document.getElementById("jm-filters");
		form.addEventListener("change", loadJobs);
		form.addEventListener("submit", (event) => event.preventDefault());
		document.getElementById("jm-refresh").addEventListener("click", loadJobs);
		document.getElementById("jm-history-close").addEventListener("click", () => {
			document.getElementById("jm-history").hidden = true;
			state.selectedHistoryJob = null;
		});
		document.getElementById("jm-schedules-refresh").addEventListener("click", loadSchedules);
		const metricsRefresh = document.getElementById("jm-metrics-refresh");
		if (metricsRefresh) {
			metricsRefresh.addEventListener("click", loadMetrics);
		}
	}

	setupFilters();
	setupSubmitForm();
	setupDeadLetter();
	loadJobs();
	loadBatches();
	loadMetrics();
	loadSchedules();
	setInterval(loadSchedules, SCHEDULES_REFRESH_MS);
	connectRealtime();
	root.dataset.ready = "1";
}

startMonitor();
