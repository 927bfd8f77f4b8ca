from tlsrpt_tui.cli import main

raise SystemExit(main())
