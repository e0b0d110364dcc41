"""Website pages served from the apps' ``www`` folders (see ``frappe.website.serve``)."""
