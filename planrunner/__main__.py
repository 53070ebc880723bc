from planrunner.cli import main

main()
