from callbridge.cli import main

main()
