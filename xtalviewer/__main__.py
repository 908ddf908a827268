from xtalviewer.cli import main

raise SystemExit(main())
