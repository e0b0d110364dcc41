"""`realtime --site S [--port P] [--webserver-port W]`: the Socket.IO server (bench's `node socketio.js`).

Ports default to ``socketio_port`` / ``webserver_port`` of the site's config. As Frappe's server, it
authenticates each client against the web server at the client's Origin; the web server port is used only
in ``developer_mode`` (it replaces the Origin's port). Stops on SIGINT/SIGTERM.
"""

import argparse

from benchless.commands.worker import enter_sites_dir, read_site_config, resolve_site

HELP = "Start the Socket.IO server speaking Frappe's realtime protocol"


def add_arguments(parser: argparse.ArgumentParser) -> None:
	parser.add_argument("--site", help="site served (default: default_site)")
	parser.add_argument("--port", type=int, help="port to listen on (default: conf.socketio_port)")
	parser.add_argument(
		"--webserver-port",
		type=int,
		help="in developer_mode, the web server port (default: conf.webserver_port)",
	)


def run(args: argparse.Namespace) -> int:
	site = resolve_site(args.site)
	enter_sites_dir()
	conf = read_site_config(site)
	port = args.port or int(conf.get("socketio_port") or 9000)
	webserver_port = args.webserver_port or int(conf.get("webserver_port") or 8000)
	if not conf.get("redis_queue"):
		print("realtime: redis_queue missing in common_site_config.json")
		return 1

	from benchless.realtime_server import RealtimeServer, run_server

	server = RealtimeServer(
		site=site,
		redis_url=conf["redis_queue"],
		default_site=conf.get("default_site") if not args.site else site,
		developer_mode=bool(conf.get("developer_mode")),
		webserver_port=webserver_port,
	)
	try:
		run_server(server, port)
	except OSError as exc:
		print(f"realtime: cannot listen on port {port}: {exc.strerror}")
		return 1
	return 0
