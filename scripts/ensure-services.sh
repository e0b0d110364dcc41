#!/usr/bin/env bash
# Make sure MariaDB and Redis answer on loopback: start them if they are installed but stopped,
# install Debian's packages first if they are absent. Idempotent; safe to run on every `make`.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
APT_UPDATED=0

apt_install() {
	if [ "$APT_UPDATED" = "0" ]; then
		$SUDO apt-get update -qq
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

mariadb_up() {
	mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping >/dev/null 2>&1
}

redis_up() {
	redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG
}

wait_for() {
	local what=$1 check=$2
	for _ in $(seq 1 60); do
		if $check; then return 0; fi
		sleep 0.5
	done
	echo "ensure-services: $what did not come up" >&2
	return 1
}

if ! mariadb_up; then
	if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
		echo "ensure-services: installing mariadb-server"
		apt_install mariadb-server mariadb-client
	fi
	echo "ensure-services: starting MariaDB"
	$SUDO mkdir -p /run/mysqld && $SUDO chown mysql:mysql /run/mysqld 2>/dev/null || true
	$SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
	wait_for MariaDB mariadb_up
	# A fresh Debian install lets root in by unix socket only; benchless connects over TCP.
	mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping >/dev/null 2>&1 ||
		$SUDO mysql -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;"
fi

if ! redis_up; then
	if ! command -v redis-server >/dev/null 2>&1; then
		echo "ensure-services: installing redis-server"
		apt_install redis-server
	fi
	echo "ensure-services: starting Redis"
	$SUDO mkdir -p /var/lib/redis /var/log/redis
	$SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/benchless.log
	wait_for Redis redis_up
fi
echo "ensure-services: MariaDB and Redis are up"
