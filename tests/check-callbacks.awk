# Part of tests/check-nothrow.sh: every function handed to C (a vfunc, a pad
# function, a probe, a signal handler, a GSource callback, a soup handler, an
# async callback) is wrapped in SUGARCAST_GUARD (plugins/common/guard.h).
# Prints "PATH:LINE: FIRST LINE" for each registration without it.
function trim(s) { sub(/^[[:space:]]+/, "", s); sub(/[[:space:]]+$/, "", s); return s }
function balance(s,   i, c, n) {
  n = 0
  for (i = 1; i <= length(s); ++i) {
    c = substr(s, i, 1)
    if (c == "(") ++n; else if (c == ")") --n
  }
  return n
}
FNR == 1 { open = 0 }
{
  line = $0
  if (line ~ /^[[:space:]]*(\*|\/\*|\/\/)/ || line ~ /^[[:space:]]*#[[:space:]]*define/) next
  bad = 0
  # G_CALLBACK (f) and G_SOURCE_FUNC (f) only around a guard.
  s = line
  while (match(s, /(G_CALLBACK|G_SOURCE_FUNC)[[:space:]]*\(/)) {
    s = substr(s, RSTART + RLENGTH)
    if (s !~ /^[[:space:]]*SUGARCAST_GUARD/) bad = 1
  }
  # Vfuncs: klass->name = f;
  if (match(line, /[A-Za-z_]*(class|klass)->[a-z_]+[[:space:]]*=[[:space:]]*[^=]/)) {
    rhs = substr(line, RSTART + RLENGTH - 1)
    if (rhs !~ /^(SUGARCAST_GUARD|TRUE|FALSE|NULL|nullptr|[0-9])/) bad = 1
  }
  if (line ~ /GSourceFuncs[[:space:]]+[A-Za-z_]+[[:space:]]*=/ && line !~ /SUGARCAST_GUARD/) bad = 1
  if (bad) { print FILENAME ":" FNR ": " trim(line); reported = 1 }
  # Calls that take a callback: the whole call must name a guard.
  if (open) {
    text = text " " line
  } else if (match(line, /(^|[^A-Za-z0-9_])(g_signal_connect[a-z_]*|gst_pad_set_[a-z_]*function[a-z_]*|gst_pad_add_probe|g_idle_add[a-z_]*|g_timeout_add[a-z_]*|g_source_set_callback|gst_bus_add_watch[a-z_]*|gst_bus_set_sync_handler|soup_server_add_[a-z_]*handler|add_early_handler|g_main_context_invoke[a-z_]*|g_unix_fd_add[a-z_]*|gst_element_call_async|g_task_run_in_thread[a-z_]*|g_task_new|soup_message_headers_foreach|PQsetNoticeProcessor|[a-z0-9_]+_async)[[:space:]]*\(/)) {
    call = substr(line, RSTART)
    # not a declaration or a definition of such a function
    if (call !~ /^[^(]*\([[:space:]]*(const[[:space:]]+)?[A-Za-z_:]+[[:space:]]*\*/ && line !~ /^[A-Za-z_].*\)[[:space:]]*[{;]?[[:space:]]*$/) {
      open = 1; first = line; firstnr = FNR; text = call; reported = bad
    }
  }
  if (open && balance(text) <= 0) {
    open = 0
    if (!reported && text !~ /SUGARCAST_GUARD/) print FILENAME ":" firstnr ": " trim(first)
  }
}
