// benchless: the small part of Frappe's web-page JS that www pages use: frappe.call over /api/method
// with the session's CSRF token (set by templates/web.html), resolving to the response body.
(function () {
	window.frappe = window.frappe || {};
	frappe.call = async function ({ method, args = {}, type = "POST" }) {
		const verb = type.toUpperCase();
		let url = "/api/method/" + method;
		const options = {
			method: verb,
			credentials: "same-origin",
			headers: { Accept: "application/json", "X-Frappe-CSRF-Token": frappe.csrf_token || "" },
		};
		if (verb === "GET") {
			url += "?" + new URLSearchParams(args).toString();
		} else {
			options.headers["Content-Type"] = "application/json";
			options.body = JSON.stringify(args);
		}
		const response = await fetch(url, options);
		const body = await response.json().catch(() => ({}));
		if (!response.ok) {
			const error = new Error(body.exc_type || response.statusText);
			error.status = response.status;
			error.body = body;
			throw error;
		}
		return body;
	};
})();
