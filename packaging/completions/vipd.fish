# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_vipd_global_optspecs
    string join \n h/help V/version
end

function __fish_vipd_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_vipd_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_vipd_using_subcommand
    set -l cmd (__fish_vipd_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c vipd -n "__fish_vipd_needs_command" -s h -l help -d 'Print help'
complete -c vipd -n "__fish_vipd_needs_command" -s V -l version -d 'Print version'
complete -c vipd -n "__fish_vipd_needs_command" -f -a "run" -d 'Run the daemon (SIGTERM/SIGINT: resign and exit; SIGHUP: reload)'
complete -c vipd -n "__fish_vipd_needs_command" -f -a "drain" -d 'Drain instances of a running vipd (all when none is named): each hands mastership over make-before-break and stays Backup until undrained (survives reloads)'
complete -c vipd -n "__fish_vipd_needs_command" -f -a "undrain" -d 'Undrain instances of a running vipd (all when none is named): they may become master again (preempting, when configured)'
complete -c vipd -n "__fish_vipd_needs_command" -f -a "status" -d 'Show the state of a running vipd as a table (from its /status endpoint)'
complete -c vipd -n "__fish_vipd_needs_command" -f -a "monitor" -d 'Watch every VRRP advert on a segment (any implementation) and export what is seen: masters per VRID (split brain), per-router priority, interval, checksum form. Passive: needs no configuration and sends no adverts'
complete -c vipd -n "__fish_vipd_needs_command" -f -a "demo" -d 'Build a throwaway LAN of network namespaces with two vipd nodes and a client, and show an election, a link failover, preemption back and a graceful stop live, with how long the client lost the address (root, Linux; everything is removed after, also on Ctrl-C)'
complete -c vipd -n "__fish_vipd_needs_command" -f -a "import-keepalived" -d 'Translate a keepalived.conf to vipd YAML on stdout (or into FILE with `-o`); what cannot be translated is listed on stderr. Exit status: 0 complete, 3 something not translated, 2 syntax error or unreadable file'
complete -c vipd -n "__fish_vipd_needs_command" -f -a "generate" -d 'Write the man pages (`man [DIR]`) or a shell\'s completion script (`completions SHELL`), generated from this command line\'s definitions (the Debian package ships them)'
complete -c vipd -n "__fish_vipd_needs_command" -f -a "check" -d 'Validate a configuration: prints `path:line:column: message` per problem, exits 2 when invalid. The file is FILE, else `-c FILE`, else /etc/vipd/vipd.yaml'
complete -c vipd -n "__fish_vipd_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vipd -n "__fish_vipd_using_subcommand run" -s c -l config -d 'Configuration file' -r -F
complete -c vipd -n "__fish_vipd_using_subcommand run" -l listen -d 'HTTP address for /metrics, /status, /healthz (overrides `listen`)' -r
complete -c vipd -n "__fish_vipd_using_subcommand run" -l control-socket -d 'Control socket for `vipd drain` / `vipd undrain` (mode 0600)' -r -F
complete -c vipd -n "__fish_vipd_using_subcommand run" -l web.config.file -d 'Web configuration (Prometheus exporter-toolkit format): TLS, client certificates, basic_auth_users, response headers of the HTTP endpoint. See docs/security.md' -r -F
complete -c vipd -n "__fish_vipd_using_subcommand run" -l log-level -d 'Log level: off, error, warn, info, debug or trace, or a tracing filter such as `vipd=debug,info`. Overrides the VIPD_LOG environment variable (default info)' -r
complete -c vipd -n "__fish_vipd_using_subcommand run" -l log-format -d 'Log line format. Overrides the configuration\'s `log.format` (default text)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c vipd -n "__fish_vipd_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vipd -n "__fish_vipd_using_subcommand drain" -l control-socket -d 'The running vipd\'s control socket' -r -F
complete -c vipd -n "__fish_vipd_using_subcommand drain" -s h -l help -d 'Print help'
complete -c vipd -n "__fish_vipd_using_subcommand undrain" -l control-socket -d 'The running vipd\'s control socket' -r -F
complete -c vipd -n "__fish_vipd_using_subcommand undrain" -s h -l help -d 'Print help'
complete -c vipd -n "__fish_vipd_using_subcommand status" -l url -d 'Same as URL' -r
complete -c vipd -n "__fish_vipd_using_subcommand status" -l cacert -d 'PEM file of the CA that signed the https:// endpoint\'s certificate, trusted instead of the public (Mozilla) roots' -r -F
complete -c vipd -n "__fish_vipd_using_subcommand status" -s h -l help -d 'Print help'
complete -c vipd -n "__fish_vipd_using_subcommand monitor" -s i -l interface -d 'Interface to listen on; repeat it (or separate names with commas) to watch several segments from one process, every series labelled by its interface' -r
complete -c vipd -n "__fish_vipd_using_subcommand monitor" -s c -l config -d 'Monitor file (YAML, docs/monitor.md): interfaces and the virtual routers expected on them, with their expected masters; re-read on SIGHUP' -r -F
complete -c vipd -n "__fish_vipd_using_subcommand monitor" -l listen -d 'HTTP address for /metrics, /status, /healthz' -r
complete -c vipd -n "__fish_vipd_using_subcommand monitor" -l web.config.file -d 'Web configuration (Prometheus exporter-toolkit format): TLS, client certificates, basic_auth_users, response headers of the HTTP endpoint. See docs/security.md' -r -F
complete -c vipd -n "__fish_vipd_using_subcommand monitor" -l log-level -d 'Log level: off, error, warn, info, debug or trace, or a tracing filter such as `vipd=debug,info`. Overrides the VIPD_LOG environment variable (default info)' -r
complete -c vipd -n "__fish_vipd_using_subcommand monitor" -l log-format -d 'Log line format. Overrides the configuration\'s `log.format` (default text)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c vipd -n "__fish_vipd_using_subcommand monitor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vipd -n "__fish_vipd_using_subcommand demo" -l ping -d 'Internal: the client\'s pinger, run by the demo inside the client namespace' -r
complete -c vipd -n "__fish_vipd_using_subcommand demo" -s h -l help -d 'Print help'
complete -c vipd -n "__fish_vipd_using_subcommand import-keepalived" -s o -l output -d 'Write the YAML to FILE instead of stdout (only when a translation is produced)' -r -F
complete -c vipd -n "__fish_vipd_using_subcommand import-keepalived" -s i -l config-id -d 'keepalived\'s `-i ID`: read the conditional lines `@ID ...` (and `@^OTHER ...`) for this id, leave out the others (default: the short host name, as keepalived)' -r
complete -c vipd -n "__fish_vipd_using_subcommand import-keepalived" -s h -l help -d 'Print help'
complete -c vipd -n "__fish_vipd_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -s h -l help -d 'Print help'
complete -c vipd -n "__fish_vipd_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -f -a "man" -d 'The man pages in troff: vipd(1) on stdout, or vipd(1) and one page per subcommand (vipd-run(1), ...) written into DIR'
complete -c vipd -n "__fish_vipd_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -f -a "completions" -d 'The completion script for SHELL on stdout'
complete -c vipd -n "__fish_vipd_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vipd -n "__fish_vipd_using_subcommand generate; and __fish_seen_subcommand_from man" -s h -l help -d 'Print help'
complete -c vipd -n "__fish_vipd_using_subcommand generate; and __fish_seen_subcommand_from completions" -s h -l help -d 'Print help'
complete -c vipd -n "__fish_vipd_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "man" -d 'The man pages in troff: vipd(1) on stdout, or vipd(1) and one page per subcommand (vipd-run(1), ...) written into DIR'
complete -c vipd -n "__fish_vipd_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "completions" -d 'The completion script for SHELL on stdout'
complete -c vipd -n "__fish_vipd_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vipd -n "__fish_vipd_using_subcommand check" -s c -l config -d 'Configuration file, as for `vipd run`' -r -F
complete -c vipd -n "__fish_vipd_using_subcommand check" -l web.config.file -d 'Web configuration (Prometheus exporter-toolkit format): TLS, client certificates, basic_auth_users, response headers of the HTTP endpoint. See docs/security.md' -r -F
complete -c vipd -n "__fish_vipd_using_subcommand check" -s h -l help -d 'Print help'
complete -c vipd -n "__fish_vipd_using_subcommand help; and not __fish_seen_subcommand_from run drain undrain status monitor demo import-keepalived generate check help" -f -a "run" -d 'Run the daemon (SIGTERM/SIGINT: resign and exit; SIGHUP: reload)'
complete -c vipd -n "__fish_vipd_using_subcommand help; and not __fish_seen_subcommand_from run drain undrain status monitor demo import-keepalived generate check help" -f -a "drain" -d 'Drain instances of a running vipd (all when none is named): each hands mastership over make-before-break and stays Backup until undrained (survives reloads)'
complete -c vipd -n "__fish_vipd_using_subcommand help; and not __fish_seen_subcommand_from run drain undrain status monitor demo import-keepalived generate check help" -f -a "undrain" -d 'Undrain instances of a running vipd (all when none is named): they may become master again (preempting, when configured)'
complete -c vipd -n "__fish_vipd_using_subcommand help; and not __fish_seen_subcommand_from run drain undrain status monitor demo import-keepalived generate check help" -f -a "status" -d 'Show the state of a running vipd as a table (from its /status endpoint)'
complete -c vipd -n "__fish_vipd_using_subcommand help; and not __fish_seen_subcommand_from run drain undrain status monitor demo import-keepalived generate check help" -f -a "monitor" -d 'Watch every VRRP advert on a segment (any implementation) and export what is seen: masters per VRID (split brain), per-router priority, interval, checksum form. Passive: needs no configuration and sends no adverts'
complete -c vipd -n "__fish_vipd_using_subcommand help; and not __fish_seen_subcommand_from run drain undrain status monitor demo import-keepalived generate check help" -f -a "demo" -d 'Build a throwaway LAN of network namespaces with two vipd nodes and a client, and show an election, a link failover, preemption back and a graceful stop live, with how long the client lost the address (root, Linux; everything is removed after, also on Ctrl-C)'
complete -c vipd -n "__fish_vipd_using_subcommand help; and not __fish_seen_subcommand_from run drain undrain status monitor demo import-keepalived generate check help" -f -a "import-keepalived" -d 'Translate a keepalived.conf to vipd YAML on stdout (or into FILE with `-o`); what cannot be translated is listed on stderr. Exit status: 0 complete, 3 something not translated, 2 syntax error or unreadable file'
complete -c vipd -n "__fish_vipd_using_subcommand help; and not __fish_seen_subcommand_from run drain undrain status monitor demo import-keepalived generate check help" -f -a "generate" -d 'Write the man pages (`man [DIR]`) or a shell\'s completion script (`completions SHELL`), generated from this command line\'s definitions (the Debian package ships them)'
complete -c vipd -n "__fish_vipd_using_subcommand help; and not __fish_seen_subcommand_from run drain undrain status monitor demo import-keepalived generate check help" -f -a "check" -d 'Validate a configuration: prints `path:line:column: message` per problem, exits 2 when invalid. The file is FILE, else `-c FILE`, else /etc/vipd/vipd.yaml'
complete -c vipd -n "__fish_vipd_using_subcommand help; and not __fish_seen_subcommand_from run drain undrain status monitor demo import-keepalived generate check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vipd -n "__fish_vipd_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "man" -d 'The man pages in troff: vipd(1) on stdout, or vipd(1) and one page per subcommand (vipd-run(1), ...) written into DIR'
complete -c vipd -n "__fish_vipd_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "completions" -d 'The completion script for SHELL on stdout'
