"""What `tracker-bridge demo` needs at run time: a throwaway installation and the narrated run.

``narration`` runs the demo; ``installation`` builds keys, a tracker sandbox (from the plugin's
``tracker_bridge.demo_sandboxes`` entry point), a local SMTP sink, a Maildir and the config; the
end-to-end tests and benchmarks use the same builder. The SMTP sink needs aiosmtpd, installed
by the ``demo`` extra (``pip install 'tracker-bridge[demo]'``). Nothing here is imported by the
bridge itself, and nothing here imports ``tracker_bridge._testsupport``.
"""
