// ESLint flat config for the app's browser JavaScript (desk scripts and the job monitor page).
const globals = require("globals");

const RULES = {
	"no-unused-vars": ["error", { args: "none" }],
	"no-undef": "error",
	eqeqeq: ["error", "always"],
	"no-var": "error",
	"prefer-const": "error",
};

module.exports = [
	{
		ignores: ["node_modules/**", "dartwing/public/dist/**", "sites/**", ".venv/**"],
	},
	{
		files: ["dartwing/**/*.js"],
		ignores: ["dartwing/**/*.bundle.js"],
		languageOptions: {
			ecmaVersion: 2022,
			sourceType: "script",
			globals: {
				...globals.browser,
				frappe: "readonly",
				__: "readonly",
				// Frappe desk globals used by form and list scripts
				cur_frm: "readonly",
				$: "readonly",
				// the app's own desk namespace (public/js/dartwing_desk.bundle.js, on every desk page)
				dartwing: "readonly",
			},
		},
		rules: RULES,
	},
	{
		// bundles (public/**/*.bundle.js) are ES modules that esbuild bundles, as `bench build` does
		files: ["dartwing/**/*.bundle.js"],
		languageOptions: {
			ecmaVersion: 2022,
			sourceType: "module",
			globals: { ...globals.browser },
		},
		rules: RULES,
	},
	{
		// the desk bundle runs inside Frappe's desk (app_include_js), after frappe and __ are defined
		files: ["dartwing/public/js/dartwing_desk.bundle.js"],
		languageOptions: { globals: { frappe: "readonly", __: "readonly" } },
	},
];
