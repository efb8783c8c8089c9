; Inno Setup script for Delivery Watchdog: a per-user installer (no administrator rights).
;
; Build on Windows after scripts/freeze.sh (or the PyInstaller command in it) made dist\watchdog\:
;   iscc packaging\windows\watchdog.iss                         -> dist\installer\DeliveryWatchdog-Setup-<version>.exe
;   iscc /DAppVersion=0.2.0 packaging\windows\watchdog.iss      version from the release
;   iscc /DSign "/Swatchdogsign=signtool.exe sign /fd sha256 /tr http://timestamp.digicert.com /td sha256 /a $f" packaging\windows\watchdog.iss
;                                                               signed installer and uninstaller
; Why Inno Setup (not NSIS or WiX/MSI): see docs/windows.md. In short: a per-user install without
; UAC, Start-menu entries, an optional task, upgrades in place and a question at uninstall are
; each one line or a few lines of Pascal here; MSI needs a per-user/per-machine dance (ALLUSERS,
; MSIINSTALLPERUSER) and custom actions for the question, and NSIS needs all of it written by hand.
;
; Where things live (docs/windows.md): the program in {userpf} = %LOCALAPPDATA%\Programs\
; Delivery Watchdog; settings, history, logs in %LOCALAPPDATA%\delivery-watchdog (platformdirs,
; the product's own choice, not the installer's); passwords in Windows Credential Manager under
; "delivery-watchdog". The installer writes only the program folder, the Start-menu entries and,
; with the autostart task, the Run value. An upgrade replaces the program folder and nothing else,
; so settings, passwords and history stay.

#define AppName "Delivery Watchdog"
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\watchdog"
#endif
; The folder platformdirs gives the product on Windows (user_data_dir / user_config_dir /
; user_log_dir of "delivery-watchdog", appauthor=False, not roaming).
#define DataFolder "{localappdata}\delivery-watchdog"
#define RunKey "Software\Microsoft\Windows\CurrentVersion\Run"
#define StartupApprovedKey "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
; The same name watchdog/desktop/autostart.py uses (RUN_VALUE_NAME), so `watchdog autostart status`
; sees the installer's entry and `watchdog autostart disable` removes it.
#define RunValueName "Delivery Watchdog"

[Setup]
; Never change AppId: it is how an upgrade finds the installed copy.
AppId={{6B0E8C2A-3F4D-4E71-9A55-5C2D7B1E9F30}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Delivery Watchdog
VersionInfoVersion={#AppVersion}
; Per user, no UAC prompt: {autopf} becomes %LOCALAPPDATA%\Programs.
PrivilegesRequired=lowest
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
UsePreviousAppDir=yes
UsePreviousTasks=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
WizardStyle=modern
SetupIconFile=..\..\watchdog\data\icons\watchdog.ico
UninstallDisplayIcon={app}\watchdogw.exe
UninstallDisplayName={#AppName}
OutputDir=..\..\dist\installer
OutputBaseFilename=DeliveryWatchdog-Setup-{#AppVersion}
Compression=lzma2/max
SolidCompression=yes
; A running tray icon holds files of {app}: close it (the icon answers Windows' "may I end?"
; with no, so "force"); it is started again from the last page.
CloseApplications=force
RestartApplications=no
#ifdef Sign
SignTool=watchdogsign
SignedUninstaller=yes
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "autostart"; Description: "Start Delivery Watchdog (the tray icon) when I sign in to Windows"; GroupDescription: "Background checking:"
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; A new build replaces the whole library folder: no module of an older version stays behind.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\watchdogw.exe"; Parameters: "tray"; Comment: "Checks that the practice's reminder e-mails still arrive"
Name: "{autoprograms}\{#AppName} - set up"; Filename: "{app}\watchdog.exe"; Parameters: "setup"; Comment: "Set up the accounts to watch"
; Console commands that end at once keep their window open (cmd /k) so the result can be read.
Name: "{autoprograms}\{#AppName} - check the set-up (doctor)"; Filename: "{cmd}"; Parameters: "/k """"{app}\watchdog.exe"" doctor"""; WorkingDir: "{app}"; IconFilename: "{app}\watchdog.exe"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\watchdogw.exe"; Parameters: "tray"; Tasks: desktopicon

[Registry]
; Exactly what `watchdog autostart enable` writes for the installed program.
Root: HKCU; Subkey: "{#RunKey}"; ValueType: string; ValueName: "{#RunValueName}"; ValueData: """{app}\watchdogw.exe"" tray"; Tasks: autostart

[Run]
Filename: "{app}\watchdog.exe"; Parameters: "setup"; Description: "Set up the accounts to watch now"; Flags: postinstall nowait skipifsilent; Check: not ConfigExists
Filename: "{app}\watchdogw.exe"; Parameters: "tray"; Description: "Start {#AppName} now"; Flags: postinstall nowait skipifsilent; Check: ConfigExists

[Code]
function ConfigExists: Boolean;
begin
  Result := FileExists(ExpandConstant('{#DataFolder}\config.toml'));
end;

procedure StopRunningCopies;
var
  ResultCode: Integer;
begin
  { Only this user's copies; a forced stop is safe (SQLite history, the lock file is released). }
  Exec(ExpandConstant('{sys}\taskkill.exe'),
    '/F /IM watchdogw.exe /FI "USERNAME eq ' + GetUserNameString + '"',
    '', SW_HIDE, ewWaitUntilTerminated, ResultCode);
  Exec(ExpandConstant('{sys}\taskkill.exe'),
    '/F /IM watchdog.exe /FI "USERNAME eq ' + GetUserNameString + '"',
    '', SW_HIDE, ewWaitUntilTerminated, ResultCode);
end;

function PrepareToInstall(var NeedsRestart: Boolean): String;
begin
  { An upgrade replaces files the running tray holds open. }
  StopRunningCopies;
  Result := '';
end;

procedure CurStepChanged(CurStep: TSetupStep);
begin
  { Unticking the task on an upgrade turns autostart off (whoever wrote the value). }
  if (CurStep = ssPostInstall) and not WizardIsTaskSelected('autostart') then
    RegDeleteValue(HKEY_CURRENT_USER, '{#RunKey}', '{#RunValueName}');
end;

function InitializeUninstall: Boolean;
begin
  StopRunningCopies;
  Result := True;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  DataFolder: String;
begin
  if CurUninstallStep = usUninstall then
  begin
    { The Run value, whether the installer or `watchdog autostart enable` wrote it. }
    RegDeleteValue(HKEY_CURRENT_USER, '{#RunKey}', '{#RunValueName}');
    RegDeleteValue(HKEY_CURRENT_USER, '{#StartupApprovedKey}', '{#RunValueName}');
  end;
  if CurUninstallStep = usPostUninstall then
  begin
    DataFolder := ExpandConstant('{#DataFolder}');
    if DirExists(DataFolder) then
      { Silent uninstalls (/SILENT, /VERYSILENT with /SUPPRESSMSGBOXES) keep everything. }
      if SuppressibleMsgBox(
        'Keep the settings and the history of checks?' + #13#10 + #13#10 +
        'Yes keeps them in ' + DataFolder + ', so a new installation carries on where this ' +
        'one stopped. No deletes that folder (settings, history, logs).' + #13#10 + #13#10 +
        'Passwords stay in Windows Credential Manager either way (entries named ' +
        '"delivery-watchdog"); remove them there if the PC is leaving the practice.',
        mbConfirmation, MB_YESNO or MB_DEFBUTTON1, IDYES) = IDNO then
        DelTree(DataFolder, True, True, True);
  end;
end;
