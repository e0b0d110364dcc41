"""frappe.modules: only what benchless mirrors (the patch handler)."""
