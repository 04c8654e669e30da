# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_runnel_global_optspecs
    string join \n h/help V/version
end

function __fish_runnel_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_runnel_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_runnel_using_subcommand
    set -l cmd (__fish_runnel_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c runnel -n "__fish_runnel_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_needs_command" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_needs_command" -f -a "serve" -d 'Run a Kafka-compatible broker'
complete -c runnel -n "__fish_runnel_needs_command" -f -a "topics" -d 'Create, list, describe, alter and delete topics'
complete -c runnel -n "__fish_runnel_needs_command" -f -a "produce" -d 'Write records, one per input line'
complete -c runnel -n "__fish_runnel_needs_command" -f -a "consume" -d 'Read records and print them (kcat-style format or JSON)'
complete -c runnel -n "__fish_runnel_needs_command" -f -a "inspect" -d 'Show and verify segment files (.log, .index, .timeindex)'
complete -c runnel -n "__fish_runnel_needs_command" -f -a "compact" -d 'Compact the partitions of compacted topics in a data directory'
complete -c runnel -n "__fish_runnel_needs_command" -f -a "groups" -d 'List, describe, reset and delete consumer groups'
complete -c runnel -n "__fish_runnel_needs_command" -f -a "quotas" -d 'Describe and alter client quotas (byte rates, request percentage)'
complete -c runnel -n "__fish_runnel_needs_command" -f -a "generate" -d 'Generate shell completions and man pages'
complete -c runnel -n "__fish_runnel_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c runnel -n "__fish_runnel_using_subcommand serve" -l listen -d 'Address to listen on [default: 127.0.0.1:9092, or `listeners` from the config file]' -r
complete -c runnel -n "__fish_runnel_using_subcommand serve" -l advertised-listener -d 'Host and port clients are told to connect to [default: the listen address]' -r
complete -c runnel -n "__fish_runnel_using_subcommand serve" -s d -l data-dir -d 'Data directory (created if missing) [default: ./runnel-data, or `log.dirs` from the config file]' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand serve" -l config -d 'Broker config file: key=value lines with Kafka\'s broker config names' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand serve" -s c -l config-override -d 'Set a broker config (Kafka\'s name), overriding the config file; repeatable' -r
complete -c runnel -n "__fish_runnel_using_subcommand serve" -s h -l help -d 'Print help'
complete -c runnel -n "__fish_runnel_using_subcommand serve" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and not __fish_seen_subcommand_from create list describe alter delete help" -s d -l data-dir -d 'Work directly on this data directory instead of talking to a broker' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand topics; and not __fish_seen_subcommand_from create list describe alter delete help" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand topics; and not __fish_seen_subcommand_from create list describe alter delete help" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and not __fish_seen_subcommand_from create list describe alter delete help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and not __fish_seen_subcommand_from create list describe alter delete help" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and not __fish_seen_subcommand_from create list describe alter delete help" -f -a "create" -d 'Create a topic'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and not __fish_seen_subcommand_from create list describe alter delete help" -f -a "list" -d 'List topics with their partition counts'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and not __fish_seen_subcommand_from create list describe alter delete help" -f -a "describe" -d 'Show a topic\'s partitions (log start/end offsets, size, segments) and configs'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and not __fish_seen_subcommand_from create list describe alter delete help" -f -a "alter" -d 'Set or remove topic configs'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and not __fish_seen_subcommand_from create list describe alter delete help" -f -a "delete" -d 'Delete a topic and all its data'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and not __fish_seen_subcommand_from create list describe alter delete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from create" -s p -l partitions -d 'Number of partitions [default: 1 in a data directory, the broker\'s num.partitions otherwise]' -r
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from create" -s r -l replication-factor -d 'Replication factor [default: the broker\'s default.replication.factor; a data directory has one replica]' -r
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from create" -s c -l config -d 'Topic config, e.g. cleanup.policy=compact (repeatable)' -r
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from create" -s d -l data-dir -d 'Work directly on this data directory instead of talking to a broker' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from create" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from create" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from list" -s d -l data-dir -d 'Work directly on this data directory instead of talking to a broker' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from list" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from list" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from describe" -s d -l data-dir -d 'Work directly on this data directory instead of talking to a broker' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from describe" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from describe" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from describe" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from describe" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from alter" -s c -l config -d 'Config to set, e.g. retention.ms=3600000 (repeatable)' -r
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from alter" -l delete-config -d 'Config to remove, going back to its default (repeatable)' -r
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from alter" -s d -l data-dir -d 'Work directly on this data directory instead of talking to a broker' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from alter" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from alter" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from alter" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from alter" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from delete" -s d -l data-dir -d 'Work directly on this data directory instead of talking to a broker' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from delete" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from delete" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a topic'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from help" -f -a "list" -d 'List topics with their partition counts'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from help" -f -a "describe" -d 'Show a topic\'s partitions (log start/end offsets, size, segments) and configs'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from help" -f -a "alter" -d 'Set or remove topic configs'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete a topic and all its data'
complete -c runnel -n "__fish_runnel_using_subcommand topics; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c runnel -n "__fish_runnel_using_subcommand produce" -s d -l data-dir -d 'Work directly on this data directory instead of talking to a broker' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand produce" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand produce" -s f -l file -d 'Read lines from this file instead of stdin' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand produce" -s K -l key-separator -d 'Split each line into key and value at the first SEP' -r
complete -c runnel -n "__fish_runnel_using_subcommand produce" -s p -l partition -d 'Send every record to this partition' -r
complete -c runnel -n "__fish_runnel_using_subcommand produce" -s H -l header -d 'Add a header to every record, e.g. -H source=web (repeatable, order kept)' -r
complete -c runnel -n "__fish_runnel_using_subcommand produce" -l compression -d 'Compression codec of the record batches' -r -f -a "none\t'No compression'
gzip\t'gzip'
snappy\t'snappy (xerial framing, as Kafka\'s Java client)'
lz4\t'lz4 frame format'
zstd\t'zstd'"
complete -c runnel -n "__fish_runnel_using_subcommand produce" -l acks -d 'Acknowledgements to wait for (broker mode; a data directory is always fsynced)' -r -f -a "0\t'None: fire and forget'
1\t'The leader wrote the records to its log'
all\t'All in-sync replicas have them (runnel serve: fsynced)'"
complete -c runnel -n "__fish_runnel_using_subcommand produce" -l linger-ms -d 'How long a batch waits for more records before it is sent anyway (broker mode)' -r
complete -c runnel -n "__fish_runnel_using_subcommand produce" -l batch-size -d 'Target size of a record batch in bytes (capped by the topic\'s max.message.bytes)' -r
complete -c runnel -n "__fish_runnel_using_subcommand produce" -l transactional-id -d 'Load the whole input in one transaction with this transactional.id: committed at the end, aborted on any error or Ctrl-C (broker mode only; refused with -d)' -r
complete -c runnel -n "__fish_runnel_using_subcommand produce" -l transaction-timeout-ms -d 'How long the broker lets the transaction stay open before aborting it (transaction.timeout.ms) [default: 60000]' -r
complete -c runnel -n "__fish_runnel_using_subcommand produce" -s Z -l null-empty -d 'Send an empty value as null (a tombstone, which deletes the key in a compacted topic)'
complete -c runnel -n "__fish_runnel_using_subcommand produce" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand produce" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand consume" -s d -l data-dir -d 'Work directly on this data directory instead of talking to a broker' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand consume" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand consume" -s o -l offset -d 'Where to start in each partition: beginning, end, N (absolute offset), -N (N records before the end) or @TIMESTAMP_MS (first record at or after that time)' -r
complete -c runnel -n "__fish_runnel_using_subcommand consume" -s p -l partition -d 'Read only this partition [default: all partitions]' -r
complete -c runnel -n "__fish_runnel_using_subcommand consume" -s g -l group -d 'Consume as a member of this consumer group: read the partitions the group assigns, from its committed offsets (-o only where it has none), and commit what was printed (see --help)' -r
complete -c runnel -n "__fish_runnel_using_subcommand consume" -s n -l max-messages -d 'Stop after this many records' -r
complete -c runnel -n "__fish_runnel_using_subcommand consume" -l format -d 'Output format with kcat\'s tokens (%t %p %o %k %s %K %S %T %h %%, \\n \\t \\r \\\\)' -r
complete -c runnel -n "__fish_runnel_using_subcommand consume" -l isolation -d 'Whether records of aborted and open transactions are shown (see --help)' -r -f -a "read_committed\t'Committed records only, up to the last stable offset'
read_uncommitted\t'Every record, aborted and open transactions included'"
complete -c runnel -n "__fish_runnel_using_subcommand consume" -l commit-before-print -d 'With --group: commit offsets before printing the records (at-most-once) instead of after (at-least-once)'
complete -c runnel -n "__fish_runnel_using_subcommand consume" -s f -l follow -d 'Keep waiting for new records at the end of the log, until Ctrl-C'
complete -c runnel -n "__fish_runnel_using_subcommand consume" -l json -d 'Print one JSON object per record and line (see --help for the keys)'
complete -c runnel -n "__fish_runnel_using_subcommand consume" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand consume" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand inspect" -l records -d 'Print every record of every batch'
complete -c runnel -n "__fish_runnel_using_subcommand inspect" -l verify -d 'Print only problems and the summary, not every batch (checks are the same; exit 1 on any problem)'
complete -c runnel -n "__fish_runnel_using_subcommand inspect" -l json -d 'Print NDJSON (one JSON object per line) instead of text'
complete -c runnel -n "__fish_runnel_using_subcommand inspect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand inspect" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand compact" -s d -l data-dir -d 'Data directory to compact' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand compact" -l topic -d 'Compact only this topic (whatever its cleanup.policy)' -r
complete -c runnel -n "__fish_runnel_using_subcommand compact" -l dry-run -d 'Show what would be removed without changing anything'
complete -c runnel -n "__fish_runnel_using_subcommand compact" -l json -d 'Print JSON (an array of per-partition results) instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand compact" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand compact" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and not __fish_seen_subcommand_from list describe reset-offsets delete help" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand groups; and not __fish_seen_subcommand_from list describe reset-offsets delete help" -s d -l data-dir -d 'Read the groups of this data directory instead of asking a broker (list and describe; no lock is taken, so a broker may be running on it)' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand groups; and not __fish_seen_subcommand_from list describe reset-offsets delete help" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and not __fish_seen_subcommand_from list describe reset-offsets delete help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and not __fish_seen_subcommand_from list describe reset-offsets delete help" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and not __fish_seen_subcommand_from list describe reset-offsets delete help" -f -a "list" -d 'List the consumer groups of the cluster with their states'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and not __fish_seen_subcommand_from list describe reset-offsets delete help" -f -a "describe" -d 'Show a group\'s members and, per partition, committed offset, log end offset and lag'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and not __fish_seen_subcommand_from list describe reset-offsets delete help" -f -a "reset-offsets" -d 'Move a group\'s committed offsets (a dry run unless --execute)'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and not __fish_seen_subcommand_from list describe reset-offsets delete help" -f -a "delete" -d 'Delete a group and its committed offsets (the group must have no members)'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and not __fish_seen_subcommand_from list describe reset-offsets delete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from list" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from list" -s d -l data-dir -d 'Read the groups of this data directory instead of asking a broker (list and describe; no lock is taken, so a broker may be running on it)' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from list" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from describe" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from describe" -s d -l data-dir -d 'Read the groups of this data directory instead of asking a broker (list and describe; no lock is taken, so a broker may be running on it)' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from describe" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from describe" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from describe" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -l topic -d 'Topic whose offsets to reset, optionally with partitions: TOPIC or TOPIC:0,1,2 (repeatable)' -r
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -l to-offset -d 'To this offset' -r
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -l to-datetime -d 'To the first record at or after this time: ISO-8601 (2026-01-01T00:00:00Z, 2026-01-01T00:00:00.000+02:00; local time without a zone, as kafka-consumer-groups.sh) or milliseconds since the epoch' -r
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -l shift-by -d 'Move each committed offset by N (negative: back)' -r
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -s d -l data-dir -d 'Read the groups of this data directory instead of asking a broker (list and describe; no lock is taken, so a broker may be running on it)' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -l all-topics -d 'Reset every topic the group has committed offsets for'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -l to-earliest -d 'To the first offset still in each partition\'s log'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -l to-latest -d 'To the end of each partition\'s log (skip everything there now)'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -l execute -d 'Commit the new offsets (without it, only print the plan)'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -l dry-run -d 'Only print the plan (the default; kept for kafka-consumer-groups.sh users)'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from reset-offsets" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from delete" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from delete" -s d -l data-dir -d 'Read the groups of this data directory instead of asking a broker (list and describe; no lock is taken, so a broker may be running on it)' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from delete" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the consumer groups of the cluster with their states'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from help" -f -a "describe" -d 'Show a group\'s members and, per partition, committed offset, log end offset and lag'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from help" -f -a "reset-offsets" -d 'Move a group\'s committed offsets (a dry run unless --execute)'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete a group and its committed offsets (the group must have no members)'
complete -c runnel -n "__fish_runnel_using_subcommand groups; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and not __fish_seen_subcommand_from describe alter help" -s d -l data-dir -d 'Work directly on this data directory instead of talking to a broker' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and not __fish_seen_subcommand_from describe alter help" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and not __fish_seen_subcommand_from describe alter help" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and not __fish_seen_subcommand_from describe alter help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and not __fish_seen_subcommand_from describe alter help" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and not __fish_seen_subcommand_from describe alter help" -f -a "describe" -d 'List entities and their quotas'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and not __fish_seen_subcommand_from describe alter help" -f -a "alter" -d 'Set or remove quotas of one entity'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and not __fish_seen_subcommand_from describe alter help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from describe" -l user -d 'The user (principal name; ANONYMOUS for unauthenticated clients)' -r
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from describe" -l client-id -d 'The client id' -r
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from describe" -l default -d 'The <default> entity of this type: user or client-id (repeatable)' -r -f -a "user\t''
client-id\t''"
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from describe" -s d -l data-dir -d 'Work directly on this data directory instead of talking to a broker' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from describe" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from describe" -l strict -d 'Only entities with exactly the components given'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from describe" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from describe" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from describe" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -l user -d 'The user (principal name; ANONYMOUS for unauthenticated clients)' -r
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -l client-id -d 'The client id' -r
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -l default -d 'The <default> entity of this type: user or client-id (repeatable)' -r -f -a "user\t''
client-id\t''"
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -l producer-byte-rate -d 'producer_byte_rate: produce bytes per second' -r
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -l consumer-byte-rate -d 'consumer_byte_rate: fetch bytes per second' -r
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -l request-percentage -d 'request_percentage: percent of one request thread\'s time' -r
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -l controller-mutation-rate -d 'controller_mutation_rate: partitions created or deleted per second' -r
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -l delete -d 'Quota to remove, e.g. producer_byte_rate (repeatable)' -r
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -s d -l data-dir -d 'Work directly on this data directory instead of talking to a broker' -r -F
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -s b -l brokers -d 'Bootstrap brokers to talk to, comma-separated' -r
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -l validate-only -d 'Only check the alteration (validate_only); change nothing'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -l json -d 'Print JSON instead of a table'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from alter" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from help" -f -a "describe" -d 'List entities and their quotas'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from help" -f -a "alter" -d 'Set or remove quotas of one entity'
complete -c runnel -n "__fish_runnel_using_subcommand quotas; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c runnel -n "__fish_runnel_using_subcommand generate; and not __fish_seen_subcommand_from completions man help" -s h -l help -d 'Print help'
complete -c runnel -n "__fish_runnel_using_subcommand generate; and not __fish_seen_subcommand_from completions man help" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand generate; and not __fish_seen_subcommand_from completions man help" -f -a "completions" -d 'Completions for bash (runnel.bash), zsh (_runnel) and fish (runnel.fish)'
complete -c runnel -n "__fish_runnel_using_subcommand generate; and not __fish_seen_subcommand_from completions man help" -f -a "man" -d 'Man pages: runnel.1 and one page per subcommand (runnel-topics.1, ...)'
complete -c runnel -n "__fish_runnel_using_subcommand generate; and not __fish_seen_subcommand_from completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c runnel -n "__fish_runnel_using_subcommand generate; and __fish_seen_subcommand_from completions" -s h -l help -d 'Print help'
complete -c runnel -n "__fish_runnel_using_subcommand generate; and __fish_seen_subcommand_from completions" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand generate; and __fish_seen_subcommand_from man" -s h -l help -d 'Print help'
complete -c runnel -n "__fish_runnel_using_subcommand generate; and __fish_seen_subcommand_from man" -s V -l version -d 'Print version'
complete -c runnel -n "__fish_runnel_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "completions" -d 'Completions for bash (runnel.bash), zsh (_runnel) and fish (runnel.fish)'
complete -c runnel -n "__fish_runnel_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "man" -d 'Man pages: runnel.1 and one page per subcommand (runnel-topics.1, ...)'
complete -c runnel -n "__fish_runnel_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c runnel -n "__fish_runnel_using_subcommand help; and not __fish_seen_subcommand_from serve topics produce consume inspect compact groups quotas generate help" -f -a "serve" -d 'Run a Kafka-compatible broker'
complete -c runnel -n "__fish_runnel_using_subcommand help; and not __fish_seen_subcommand_from serve topics produce consume inspect compact groups quotas generate help" -f -a "topics" -d 'Create, list, describe, alter and delete topics'
complete -c runnel -n "__fish_runnel_using_subcommand help; and not __fish_seen_subcommand_from serve topics produce consume inspect compact groups quotas generate help" -f -a "produce" -d 'Write records, one per input line'
complete -c runnel -n "__fish_runnel_using_subcommand help; and not __fish_seen_subcommand_from serve topics produce consume inspect compact groups quotas generate help" -f -a "consume" -d 'Read records and print them (kcat-style format or JSON)'
complete -c runnel -n "__fish_runnel_using_subcommand help; and not __fish_seen_subcommand_from serve topics produce consume inspect compact groups quotas generate help" -f -a "inspect" -d 'Show and verify segment files (.log, .index, .timeindex)'
complete -c runnel -n "__fish_runnel_using_subcommand help; and not __fish_seen_subcommand_from serve topics produce consume inspect compact groups quotas generate help" -f -a "compact" -d 'Compact the partitions of compacted topics in a data directory'
complete -c runnel -n "__fish_runnel_using_subcommand help; and not __fish_seen_subcommand_from serve topics produce consume inspect compact groups quotas generate help" -f -a "groups" -d 'List, describe, reset and delete consumer groups'
complete -c runnel -n "__fish_runnel_using_subcommand help; and not __fish_seen_subcommand_from serve topics produce consume inspect compact groups quotas generate help" -f -a "quotas" -d 'Describe and alter client quotas (byte rates, request percentage)'
complete -c runnel -n "__fish_runnel_using_subcommand help; and not __fish_seen_subcommand_from serve topics produce consume inspect compact groups quotas generate help" -f -a "generate" -d 'Generate shell completions and man pages'
complete -c runnel -n "__fish_runnel_using_subcommand help; and not __fish_seen_subcommand_from serve topics produce consume inspect compact groups quotas generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c runnel -n "__fish_runnel_using_subcommand help; and __fish_seen_subcommand_from topics" -f -a "create" -d 'Create a topic'
complete -c runnel -n "__fish_runnel_using_subcommand help; and __fish_seen_subcommand_from topics" -f -a "list" -d 'List topics with their partition counts'
complete -c runnel -n "__fish_runnel_using_subcommand help; and __fish_seen_subcommand_from topics" -f -a "describe" -d 'Show a topic\'s partitions (log start/end offsets, size, segments) and configs'
complete -c runnel -n "__fish_runnel_using_subcommand help; and __fish_seen_subcommand_from topics" -f -a "alter" -d 'Set or remove topic configs'
complete -c runnel -n "__fish_runnel_using_subcommand help; and __fish_seen_subcommand_from topics" -f -a "delete" -d 'Delete a topic and all its data'
complete -c runnel -n "__fish_runnel_using_subcommand help; and __fish_seen_subcommand_from groups" -f -a "list" -d 'List the consumer groups of the cluster with their states'
complete -c runnel -n "__fish_runnel_using_subcommand help; and __fish_seen_subcommand_from groups" -f -a "describe" -d 'Show a group\'s members and, per partition, committed offset, log end offset and lag'
complete -c runnel -n "__fish_runnel_using_subcommand help; and __fish_seen_subcommand_from groups" -f -a "reset-offsets" -d 'Move a group\'s committed offsets (a dry run unless --execute)'
complete -c runnel -n "__fish_runnel_using_subcommand help; and __fish_seen_subcommand_from groups" -f -a "delete" -d 'Delete a group and its committed offsets (the group must have no members)'
complete -c runnel -n "__fish_runnel_using_subcommand help; and __fish_seen_subcommand_from quotas" -f -a "describe" -d 'List entities and their quotas'
complete -c runnel -n "__fish_runnel_using_subcommand help; and __fish_seen_subcommand_from quotas" -f -a "alter" -d 'Set or remove quotas of one entity'
complete -c runnel -n "__fish_runnel_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "completions" -d 'Completions for bash (runnel.bash), zsh (_runnel) and fish (runnel.fish)'
complete -c runnel -n "__fish_runnel_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "man" -d 'Man pages: runnel.1 and one page per subcommand (runnel-topics.1, ...)'
