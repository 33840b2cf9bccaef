# dlb-agent %preun: stop and disable the agent when it is erased ($1 = 0), not on upgrade.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now dlb-agent.service >/dev/null 2>&1 || :
fi
exit 0
