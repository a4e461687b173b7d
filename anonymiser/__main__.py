from anonymiser.cli import main

main()
