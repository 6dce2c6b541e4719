#!/usr/bin/env bash
# A throwaway RabbitMQ for the AMQP integration tests: loopback only, random ports, its own data dir.
#   source .ci/rabbitmq.sh; rabbitmq_start   → exports RABBITMQ_TEST_URL (amqp://guest:guest@127.0.0.1:<port>)
#   rabbitmq_stop                            → stops the node and removes its data dir
# Installs Debian's rabbitmq-server when missing (CI runs as root).

rabbitmq_free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

rabbitmq_install() {
  if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then return 0; fi
  echo "rabbitmq: installing Debian's rabbitmq-server"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
}

rabbitmq_start() {
  rabbitmq_install
  local started=$SECONDS
  RABBITMQ_CI_DIR=$(mktemp -d /tmp/rabbitmq-ci.XXXXXX)
  local amqp_port dist_port epmd_port
  amqp_port=$(rabbitmq_free_port)
  dist_port=$(rabbitmq_free_port)
  epmd_port=$(rabbitmq_free_port)
  echo "[]." >"$RABBITMQ_CI_DIR/enabled_plugins"
  export RABBITMQ_CI_ENV="HOME=$RABBITMQ_CI_DIR RABBITMQ_NODENAME=ci$$@localhost \
RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$amqp_port RABBITMQ_DIST_PORT=$dist_port \
ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=$epmd_port \
RABBITMQ_MNESIA_BASE=$RABBITMQ_CI_DIR/mnesia RABBITMQ_LOG_BASE=$RABBITMQ_CI_DIR/log \
RABBITMQ_ENABLED_PLUGINS_FILE=$RABBITMQ_CI_DIR/enabled_plugins \
RABBITMQ_CONFIG_FILE=$RABBITMQ_CI_DIR/rabbitmq RABBITMQ_ADVANCED_CONFIG_FILE=$RABBITMQ_CI_DIR/advanced.config \
RABBITMQ_CONF_ENV_FILE=$RABBITMQ_CI_DIR/rabbitmq-env.conf"
  RABBITMQ_CI_EPMD_PORT=$epmd_port
  # shellcheck disable=SC2086
  env $RABBITMQ_CI_ENV RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" setsid /usr/lib/rabbitmq/bin/rabbitmq-server >"$RABBITMQ_CI_DIR/server.out" 2>&1 &
  RABBITMQ_CI_PID=$!
  for _ in $(seq 1 240); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$amqp_port") 2>/dev/null; then
      export RABBITMQ_TEST_URL="amqp://guest:guest@127.0.0.1:$amqp_port"
      echo "rabbitmq: ready on 127.0.0.1:$amqp_port after $((SECONDS - started)) s"
      return 0
    fi
    if ! kill -0 "$RABBITMQ_CI_PID" 2>/dev/null; then break; fi
    sleep 0.5
  done
  echo "rabbitmq: did not start; its output:" >&2
  tail -30 "$RABBITMQ_CI_DIR/server.out" >&2 || true
  rabbitmq_stop
  return 1
}

rabbitmq_stop() {
  if [ -n "${RABBITMQ_CI_PID:-}" ]; then
    # the server runs in its own session (setsid): stop that whole group, then epmd on our port
    kill -TERM -- "-$RABBITMQ_CI_PID" 2>/dev/null || kill -TERM "$RABBITMQ_CI_PID" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$RABBITMQ_CI_PID" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$RABBITMQ_CI_PID" 2>/dev/null || true
    RABBITMQ_CI_PID=
  fi
  if [ -n "${RABBITMQ_CI_EPMD_PORT:-}" ]; then
    # epmd daemonised itself; ask the one on our port to stop
    ERL_EPMD_PORT=$RABBITMQ_CI_EPMD_PORT ERL_EPMD_ADDRESS=127.0.0.1 "$(ls /usr/lib/erlang/erts-*/bin/epmd | head -1)" -kill >/dev/null 2>&1 || true
    RABBITMQ_CI_EPMD_PORT=
  fi
  if [ -n "${RABBITMQ_CI_DIR:-}" ]; then rm -rf "$RABBITMQ_CI_DIR"; RABBITMQ_CI_DIR=; fi
  unset RABBITMQ_TEST_URL
}
