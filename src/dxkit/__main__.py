from dxkit.cli import main

main()
