from pstn.cli import main

raise SystemExit(main())
