import sys

from image_mapper.cli.main import main

sys.exit(main())
